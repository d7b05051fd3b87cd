import 'reflect-metadata';
import { Server } from 'node:http';
import { setPriority } from 'node:os';
import { INestApplication, INestApplicationContext, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConfigError, loadConfig } from '@kiln/config';
import { Logger, startTelemetry, stopTelemetry } from '@kiln/telemetry';
import { NestJsonLogger } from './nest-logger';

export interface ServiceOptions {
  name: string;
  module: Type<unknown>;
  /** HTTP port; null for a service with no listening port (the build-runner agent). */
  port: (cfg: ReturnType<typeof loadConfig>) => number | null;
  /** Extra set-up before listening (body limits, microservice transports). */
  configure?: (app: INestApplication) => Promise<void> | void;
  /**
   * Off the path from webhook to first step (read models, integrations): runs at niceness
   * {@link BACKGROUND_NICE} unless `KILN_CPU_NICE` says otherwise, so on a small host the
   * cores go to dispatch first. Its work still gets done; it waits a few ms longer for a core.
   */
  background?: boolean;
}

/** Niceness of a background service (see {@link ServiceOptions.background}). */
export const BACKGROUND_NICE = 10;

/**
 * Starts a Kiln service: telemetry, config (a bad value exits 2 with the reason), the Nest
 * app, graceful shutdown on SIGTERM/SIGINT (drain consumers, finish acks, close NATS).
 * Resolves with the running app.
 */
export async function runService(opts: ServiceOptions): Promise<INestApplicationContext> {
  const log = new Logger(opts.name);
  startTelemetry(`kiln-${opts.name}`);
  let cfg;
  try {
    cfg = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      log.error(`fatal misconfiguration: ${e.message}`);
      process.stderr.write(`kiln ${opts.name}: fatal misconfiguration: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const port = opts.port(cfg);
  const niceness = cfg.cpuNice ?? (opts.background ? BACKGROUND_NICE : 0);
  if (niceness > 0) {
    try {
      setPriority(niceness);
    } catch (e) {
      log.warn('could not lower the CPU priority', { niceness, reason: (e as Error).message });
    }
  }
  try {
    let app: INestApplicationContext;
    if (port === null) {
      app = await NestFactory.createApplicationContext(opts.module, { logger: new NestJsonLogger(log), abortOnError: false });
      app.enableShutdownHooks();
      await app.init();
    } else {
      const http = await NestFactory.create(opts.module, { logger: new NestJsonLogger(log), abortOnError: false, bodyParser: false });
      http.enableShutdownHooks();
      await opts.configure?.(http);
      await http.startAllMicroservices();
      await http.listen(port, '0.0.0.0');
      keepConnectionsLonger(http.getHttpServer());
      app = http;
    }
    log.info('started', { port, niceness });
    const stop = async (signal: string) => {
      log.info('shutting down', { signal });
      await stopTelemetry();
    };
    process.once('beforeExit', () => void stop('beforeExit'));
    return app;
  } catch (e) {
    const msg = (e as Error).message;
    log.error(`fatal: ${msg}`, { err: e as Error });
    process.stderr.write(`kiln ${opts.name}: fatal: ${msg}\n`);
    process.exit(1);
  }
}

/**
 * Idle keep-alive connections are kept 65 s, longer than any Kiln client keeps one (Node's
 * agent behind the api's proxy: 5 s; fetch/undici: the server's hint minus 1 s). With
 * Node's default of 5 s, a client reusing a connection just as the server closed it got
 * "other side closed" (seen under load on webhooks through the api's proxy). Idle
 * connections still close at once on shutdown (Node closes them in server.close()).
 */
export function keepConnectionsLonger(server: Server): void {
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
}
