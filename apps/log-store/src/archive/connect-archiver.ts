import type { INestApplication } from '@nestjs/common';
import { NatsConnection } from 'nats';
import { KilnNames } from '@kiln/contracts';
import { LOGGER, NAMES, NATS } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
import { JetStreamServer } from '@kiln/transport';
import { archiveRoutes } from './log-archiver';

/** Connects the archiver's durable consumer (started by `app.startAllMicroservices()`). */
export function connectArchiver(app: INestApplication): void {
  app.connectMicroservice(
    {
      strategy: new JetStreamServer({
        connection: () => app.get<NatsConnection>(NATS),
        routes: archiveRoutes(app.get<KilnNames>(NAMES)),
        log: app.get<Logger>(LOGGER),
      }),
    },
    { inheritAppConfig: false },
  );
}
