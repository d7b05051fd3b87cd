import { runService } from '@kiln/service-kit';
import { AppModule } from './app.module';
import { connectBuildsConsumer } from './builds-consumer';

void runService({
  background: true,
  name: 'git-status',
  module: AppModule,
  port: (c) => c.gitStatusPort,
  configure: connectBuildsConsumer,
});
