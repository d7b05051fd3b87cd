import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { KilnNames } from '@kiln/contracts';
import { KilnConfig } from '@kiln/config';
import { EventStore } from '@kiln/event-store';
import { CONFIG, HttpErrorFilter, KilnCoreModule, LOGGER, NAMES } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
import { LogArchiver } from './archive/log-archiver';
import { LogArchiverController } from './archive/log-archiver.controller';
import { LogRetention } from './archive/log-retention';
import { LogArchive } from './logs/log-archive';
import { LogReader } from './logs/log-reader';
import { LogStreams } from './logs/log-streams.service';
import { LogsController } from './logs/logs.controller';

@Module({
  imports: [KilnCoreModule.forRoot('log-store')],
  controllers: [LogsController, LogArchiverController],
  providers: [
    {
      provide: LogArchive,
      // through the EventStore so the logs stream exists; the bucket is created when missing
      useFactory: (store: EventStore, names: KilnNames, cfg: KilnConfig) => LogArchive.open(store.js, names, cfg.streamReplicas),
      inject: [EventStore, NAMES, CONFIG],
    },
    {
      provide: LogReader,
      useFactory: (store: EventStore, names: KilnNames, log: Logger, archive: LogArchive) => new LogReader(store.js, store.jsm, names, log, archive),
      inject: [EventStore, NAMES, LOGGER, LogArchive],
    },
    LogStreams,
    LogArchiver,
    LogRetention,
    { provide: APP_FILTER, useFactory: (log: Logger) => new HttpErrorFilter(log), inject: [LOGGER] },
  ],
})
export class AppModule {}
