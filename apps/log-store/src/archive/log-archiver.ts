import { Inject, Injectable } from '@nestjs/common';
import { JsMsg } from 'nats';
import { decodeLogChunk, idFromSubject, KilnNames } from '@kiln/contracts';
import { closeOrdered, EventStore, orderedConsumer } from '@kiln/event-store';
import { LOGGER, NAMES } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
import { JetStreamRoute } from '@kiln/transport';
import { LogArchive, SourceRecord } from '../logs/log-archive';

/** Route key of the archiver's durable consumer. */
export const ARCHIVE_ROUTE = 'log-store.archive';

/** An end record is tiny; anything larger is a `lines` chunk and is not even parsed. */
const END_RECORD_MAX_BYTES = 1024;

/** What the archiver's consumer hands its handler for each log record. */
export type LogRecordRef = { kind: 'lines' } | { kind: 'end'; buildId: string; status: string };

/**
 * The archiver's durable consumer on the logs stream (every record, explicit ack): only
 * `end` records matter; larger records are acked without being parsed.
 */
export function archiveRoutes(names: KilnNames): Record<string, JetStreamRoute> {
  return {
    [ARCHIVE_ROUTE]: {
      stream: names.streams.logs,
      filter: names.subjects.allLogs,
      durable: names.durables.logArchiver,
      wants: (m: JsMsg) => m.data.length <= END_RECORD_MAX_BYTES,
      decode: (m: JsMsg): LogRecordRef => {
        const c = decodeLogChunk(m.data); // InvalidError: the transport terminates it with the reason
        return c.kind === 'end' ? { kind: 'end', buildId: idFromSubject(m.subject), status: c.status } : { kind: 'lines' };
      },
      retryDelayMs: 2000,
    },
  };
}

/**
 * Compacts a finished build's log into the archive when its `end` record arrives, so the
 * logs stream can age out (`KILN_LOG_RETENTION`) while reads go on from the archive.
 * Idempotent: a redelivered or repeated `end` finds the archive done.
 */
@Injectable()
export class LogArchiver {
  constructor(
    private readonly archive: LogArchive,
    private readonly store: EventStore,
    @Inject(NAMES) private readonly names: KilnNames,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  /** Archives the build's records up to `endSeq` (the end record's stream sequence). */
  async archiveBuild(buildId: string, endSeq: number, keepAlive: () => void = () => undefined): Promise<'archived' | 'already' | 'empty'> {
    const started = Date.now();
    const result = await this.archive.archive(buildId, endSeq, (fromSeq) => this.records(buildId, fromSeq, endSeq), keepAlive);
    if (result === 'archived') this.log.info('build log archived', { buildId, endSeq, ms: Date.now() - started });
    else if (result === 'empty') this.log.warn('nothing left in the stream to archive', { buildId, endSeq });
    return result;
  }

  /** The build's records from `fromSeq` to `untilSeq`, streamed in order (never all in memory). */
  private async *records(buildId: string, fromSeq: number, untilSeq: number): AsyncGenerator<SourceRecord> {
    if (fromSeq > untilSeq) return;
    const consumer = await orderedConsumer(this.store.js, this.names.streams.logs, { filterSubjects: this.names.subjects.log(buildId), opt_start_seq: fromSeq });
    const messages = await consumer.consume({ max_bytes: 4 * 1024 * 1024 });
    try {
      for await (const m of messages) {
        if (m.seq > untilSeq) break;
        yield { seq: m.seq, data: m.data };
        if (m.seq >= untilSeq || m.info.pending === 0) break;
      }
    } finally {
      await closeOrdered(messages, consumer);
    }
  }
}
