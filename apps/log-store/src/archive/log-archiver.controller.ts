import { Controller, UseFilters } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { JetStreamContext, PassThroughRpcErrors } from '@kiln/transport';
import { ARCHIVE_ROUTE, LogArchiver, LogRecordRef } from './log-archiver';

/** Feeds `end` records of the logs stream to the archiver; acked once the archive is written. */
@Controller()
@UseFilters(new PassThroughRpcErrors())
export class LogArchiverController {
  constructor(private readonly archiver: LogArchiver) {}

  @EventPattern(ARCHIVE_ROUTE)
  async onRecord(@Payload() record: LogRecordRef, @Ctx() ctx: JetStreamContext): Promise<void> {
    if (record.kind !== 'end') return;
    await this.archiver.archiveBuild(record.buildId, ctx.seq, () => ctx.msg.working());
  }
}
