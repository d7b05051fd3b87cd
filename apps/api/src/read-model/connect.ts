import { INestApplication } from '@nestjs/common';
import { NatsConnection } from 'nats';
import { DataSource } from 'typeorm';
import { KilnNames } from '@kiln/contracts';
import { LOGGER, NAMES, NATS } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
import { JetStreamServer } from '@kiln/transport';
import { READ_DB } from './read-db';
import { projectionRoutes } from './routes';

/** Connects the read model's JetStream consumers to the api app (main.ts, and tests that start the api as it runs). */
export function connectReadModel(app: INestApplication): void {
  app.connectMicroservice(
    {
      strategy: new JetStreamServer({
        connection: () => app.get<NatsConnection>(NATS),
        routes: projectionRoutes(app.get<KilnNames>(NAMES), app.get<DataSource>(READ_DB)),
        log: app.get<Logger>(LOGGER),
      }),
    },
    { inheritAppConfig: false },
  );
}
