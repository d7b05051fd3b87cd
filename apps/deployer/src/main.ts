import { NatsConnection } from 'nats';
import { KilnNames } from '@kiln/contracts';
import { LOGGER, NAMES, NATS, runService } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
import { JetStreamServer } from '@kiln/transport';
import { AppModule } from './app.module';
import { buildRoutes } from './deploys/build-events.controller';

void runService({
  name: 'deployer',
  module: AppModule,
  port: (c) => c.deployerPort,
  configure: (app) => {
    const names = app.get<KilnNames>(NAMES);
    const nc = () => app.get<NatsConnection>(NATS);
    app.connectMicroservice(
      {
        strategy: new JetStreamServer({
          connection: nc,
          routes: buildRoutes(names, async () => (await (await nc().jetstreamManager()).streams.info(names.streams.builds)).state.last_seq),
          log: app.get<Logger>(LOGGER),
        }),
      },
      { inheritAppConfig: false },
    );
  },
});
