import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { KilnNames } from '@kiln/contracts';
import { KilnConfig } from '@kiln/config';
import { applyLogRetention, EventStore } from '@kiln/event-store';
import { CONFIG, LOGGER, NAMES } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';

/**
 * Applies `KILN_LOG_RETENTION` to the logs stream at start (log-store owns it): records
 * older than that age out of the stream; finished logs stay readable from the archive.
 */
@Injectable()
export class LogRetention implements OnModuleInit {
  constructor(
    private readonly store: EventStore,
    @Inject(NAMES) private readonly names: KilnNames,
    @Inject(CONFIG) private readonly cfg: KilnConfig,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  async onModuleInit(): Promise<void> {
    if (await applyLogRetention(this.store.jsm, this.names, this.cfg.logRetentionMs)) {
      this.log.info('logs stream retention set', { maxAgeMs: this.cfg.logRetentionMs || 'forever' });
    }
  }
}
