import { INestApplication } from '@nestjs/common';
import { NatsConnection } from 'nats';
import { KilnNames } from '@kiln/contracts';
import { LOGGER, NAMES, NATS } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
import { JetStreamServer } from '@kiln/transport';
import { gitStatusRoutes } from './statuses/build-events.controller';
import { RetryPolicy } from './statuses/host-response';
import { RETRY_POLICY } from './statuses/status-reporter';

/** Connects the durable builds consumer to an app built from AppModule (main, and the tests). */
export function connectBuildsConsumer(app: INestApplication): void {
  const names = app.get<KilnNames>(NAMES);
  const nc = () => app.get<NatsConnection>(NATS);
  const streamLastSeq = async () => (await (await nc().jetstreamManager()).streams.info(names.streams.builds)).state.last_seq;
  app.connectMicroservice(
    { strategy: new JetStreamServer({ connection: nc, routes: gitStatusRoutes(names, streamLastSeq, app.get<RetryPolicy>(RETRY_POLICY)), log: app.get<Logger>(LOGGER) }) },
    { inheritAppConfig: false },
  );
}
