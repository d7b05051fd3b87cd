import { DynamicModule, Global, Inject, Module, OnApplicationShutdown, BeforeApplicationShutdown } from '@nestjs/common';
import { NatsConnection } from 'nats';
import { kilnNames, KilnNames } from '@kiln/contracts';
import { KilnConfig, loadConfig } from '@kiln/config';
import { aggregates, connectNats, ensureStreams, EventStore } from '@kiln/event-store';
import { Logger } from '@kiln/telemetry';
import { CONFIG, LOGGER, NAMES, NATS, SERVICE_NAME } from './tokens';
import { Readiness } from './readiness';
import { HealthController } from './health.controller';

export const AGGREGATES = Symbol('KILN_AGGREGATES');

/**
 * What every Kiln service needs: config, names, one NATS connection, the event store
 * (streams ensured), a structured logger, and health/readiness endpoints.
 * On shutdown the NATS connection is drained (pending publishes and acks flushed).
 */
@Global()
@Module({})
export class KilnCoreModule implements OnApplicationShutdown, BeforeApplicationShutdown {
  constructor(
    @Inject(NATS) private readonly nc: NatsConnection,
    private readonly readiness: Readiness,
  ) {}

  static forRoot(service: string, opts: { http?: boolean; config?: KilnConfig } = {}): DynamicModule {
    return {
      module: KilnCoreModule,
      controllers: opts.http === false ? [] : [HealthController],
      providers: [
        { provide: SERVICE_NAME, useValue: service },
        { provide: CONFIG, useFactory: () => opts.config ?? loadConfig() },
        { provide: NAMES, useFactory: (c: KilnConfig) => kilnNames(c.namespace), inject: [CONFIG] },
        { provide: LOGGER, useFactory: () => new Logger(service) },
        {
          provide: NATS,
          useFactory: async (c: KilnConfig, log: Logger) => {
            const nc = await connectNats(c.natsUrl, service);
            (async () => {
              for await (const s of nc.status()) {
                if (s.type === 'disconnect' || s.type === 'reconnect') log.warn(`nats ${s.type}`, { server: String(s.data) });
              }
            })().catch(() => undefined);
            return nc;
          },
          inject: [CONFIG, LOGGER],
        },
        {
          provide: EventStore,
          useFactory: async (nc: NatsConnection, names: KilnNames, c: KilnConfig) => {
            const store = await EventStore.create(nc, names);
            // the logs stream is created with the configured retention; log-store applies a changed one
            await ensureStreams(store.jsm, names, c.streamReplicas, { logMaxAgeMs: c.logRetentionMs });
            return store;
          },
          inject: [NATS, NAMES, CONFIG],
        },
        { provide: AGGREGATES, useFactory: (names: KilnNames) => aggregates(names), inject: [NAMES] },
        {
          provide: Readiness,
          useFactory: (nc: NatsConnection) => {
            const r = new Readiness();
            r.register('nats', () => {
              if (nc.isClosed()) throw new Error('connection closed');
              if (nc.isDraining()) throw new Error('draining');
            });
            return r;
          },
          inject: [NATS],
        },
      ],
      exports: [SERVICE_NAME, CONFIG, NAMES, LOGGER, NATS, EventStore, AGGREGATES, Readiness],
    };
  }

  beforeApplicationShutdown(): void {
    this.readiness.drain();
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => undefined);
  }
}
