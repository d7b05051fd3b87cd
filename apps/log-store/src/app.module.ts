import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { KilnNames } from '@kiln/contracts';
import { EventStore } from '@kiln/event-store';
import { HttpErrorFilter, KilnCoreModule, LOGGER, NAMES } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
import { LogReader } from './logs/log-reader';
import { LogStreams } from './logs/log-streams.service';
import { LogsController } from './logs/logs.controller';

@Module({
  imports: [KilnCoreModule.forRoot('log-store')],
  controllers: [LogsController],
  providers: [
    {
      provide: LogReader,
      // through the EventStore so the logs stream exists before the first read
      useFactory: (store: EventStore, names: KilnNames, log: Logger) => new LogReader(store.js, store.jsm, names, log),
      inject: [EventStore, NAMES, LOGGER],
    },
    LogStreams,
    { provide: APP_FILTER, useFactory: (log: Logger) => new HttpErrorFilter(log), inject: [LOGGER] },
  ],
})
export class AppModule {}
