import { Module } from '@nestjs/common';
import { KilnCoreModule } from '@kiln/service-kit';
import { ProjectCatalog } from './projects/project-catalog';
import { BuildEventsController } from './statuses/build-events.controller';
import { GitHostClient } from './statuses/git-host-client';
import { DEFAULT_RETRY_POLICY } from './statuses/host-response';
import { RETRY_POLICY, StatusReporter } from './statuses/status-reporter';

@Module({
  imports: [KilnCoreModule.forRoot('git-status')],
  controllers: [BuildEventsController],
  providers: [ProjectCatalog, GitHostClient, StatusReporter, { provide: RETRY_POLICY, useValue: DEFAULT_RETRY_POLICY }],
})
export class AppModule {}
