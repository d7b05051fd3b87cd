import 'reflect-metadata';
import { AddressInfo } from 'node:net';
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NatsConnection } from 'nats';
import { DataSource } from 'typeorm';
import { KilnNames, kilnNames } from '@kiln/contracts';
import { Aggregates, aggregates, connectNats, deleteStreams, EventStore } from '@kiln/event-store';
import { dropSchema } from '@kiln/persistence';
import { useBodyParser } from '@kiln/service-kit';
import { testDatabaseUrl, testNamespace, testNatsUrl } from '@kiln/testing';
import { AppModule } from '../src/app.module';
import { READ_DB } from '../src/read-model/read-db';
import { connectReadModel } from '../src/read-model/connect';

export interface TestApiOptions {
  /** Prefix of the spec file's own namespace (streams, subjects, schema). */
  namespacePrefix: string;
  /** Client name of the spec's own NATS connection, to tell it apart on the server. */
  natsClientName: string;
  /** Settings of the app besides NATS_URL, DATABASE_URL and KILN_NAMESPACE (tokens, keys...). */
  env: Record<string, string>;
  /** Feed the read model from the streams, as main.ts does: for specs that read through GET endpoints. */
  readModel?: boolean;
}

/** The running API of one spec file; `app`, `nc`, `store` and `base` exist from its `beforeAll` on. */
export interface TestApi {
  readonly names: KilnNames;
  readonly aggs: Aggregates;
  readonly app: INestApplication;
  /** The spec's own NATS connection, beside the app's. */
  readonly nc: NatsConnection;
  /** An event store on the app's namespace, to give events and check what the app recorded. */
  readonly store: EventStore;
  /** `http://127.0.0.1:<port>` of the app. */
  readonly base: string;
}

interface Started {
  app: INestApplication;
  nc: NatsConnection;
  store: EventStore;
  base: string;
}

/**
 * Starts the API app for the calling `describe` on real NATS JetStream and PostgreSQL, in a
 * namespace of its own, and removes it all afterwards (streams, read-model schema, settings in
 * `process.env`) so spec files running side by side never see each other's data. Registers its
 * `beforeAll` and `afterAll`: call it first in the `describe`, before hooks that use the app.
 */
export function useTestApi(options: TestApiOptions): TestApi {
  const names = kilnNames(testNamespace(options.namespacePrefix));
  let started: Started | undefined;
  let savedEnv: NodeJS.ProcessEnv | undefined;
  const get = (): Started => {
    if (!started) throw new Error('the test API is used before its beforeAll ran');
    return started;
  };

  beforeAll(async () => {
    savedEnv = { ...process.env };
    Object.assign(process.env, { NATS_URL: testNatsUrl(), DATABASE_URL: testDatabaseUrl(), KILN_NAMESPACE: names.namespace, ...options.env });
    const app = await NestFactory.create(AppModule, { logger: false, bodyParser: false });
    useBodyParser(app, '/api', 'json');
    if (options.readModel) {
      connectReadModel(app);
      await app.startAllMicroservices();
    }
    await app.listen(0, '127.0.0.1');
    const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    const nc = await connectNats(testNatsUrl(), options.natsClientName);
    const store = await EventStore.create(nc, names);
    started = { app, nc, store, base };
  });

  afterAll(async () => {
    if (started) {
      const { app, nc, store } = started;
      const ds = app.get<DataSource>(READ_DB);
      // bounded: in two CI runs with suites side by side this close hung past the hook's 60 s
      // (not reproduced alone); the cleanup below must still run. See the session note.
      const closed = await Promise.race([app.close().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 20_000).unref())]);
      if (!closed) console.warn(`${options.natsClientName}: app.close() did not finish within 20 s`);
      await ds.destroy().catch(() => undefined);
      await deleteStreams(store.jsm, names);
      await nc.drain();
    }
    await dropSchema(testDatabaseUrl(), names.namespace).catch(() => undefined);
    if (savedEnv) process.env = savedEnv;
  });

  return {
    names,
    aggs: aggregates(names),
    get app() {
      return get().app;
    },
    get nc() {
      return get().nc;
    },
    get store() {
      return get().store;
    },
    get base() {
      return get().base;
    },
  };
}
