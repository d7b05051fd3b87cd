import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { HttpErrorFilter, KilnCoreModule, LOGGER } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
import { ProjectDirectory } from './projects/project-directory';
import { BuildRequests } from './webhooks/build-requests';
import { WebhooksController } from './webhooks/webhooks.controller';

@Module({
  imports: [KilnCoreModule.forRoot('ingest')],
  controllers: [WebhooksController],
  providers: [
    ProjectDirectory,
    BuildRequests,
    { provide: APP_FILTER, useFactory: (log: Logger) => new HttpErrorFilter(log), inject: [LOGGER] },
  ],
})
export class AppModule {}
