import { JetStreamClient } from 'nats';
import { encodeLogChunk, KilnNames, LogChunk, logChunkMsgId } from '@kiln/contracts';
import { LogBatcher } from './log-batcher';
import type { LogLine } from './log-line';

/**
 * Ships a build's log lines to `<ns>.log.<buildId>`: a line goes out at once when nothing
 * is in flight; while a publish awaits its ack, lines batch (up to 64 KiB). Each chunk has
 * a Msg-Id, so a publish retried after a lost ack is stored once.
 */
export class LogPublisher {
  private chunk = 0;
  private readonly batcher: LogBatcher;

  constructor(
    private readonly js: JetStreamClient,
    private readonly names: KilnNames,
    private readonly buildId: string,
    private readonly attempt: number,
    mask: (text: string) => string = (t) => t,
  ) {
    this.batcher = new LogBatcher({
      send: async (lines: LogLine[]) => {
        const c: LogChunk = { kind: 'lines', buildId, attempt, chunk: ++this.chunk, lines: lines.map((l) => ({ ...l, text: mask(l.text) })) };
        try {
          await this.js.publish(names.subjects.log(buildId), encodeLogChunk(c), { msgID: logChunkMsgId(c) });
        } catch (e) {
          this.chunk--; // the retry reuses the same chunk number, so its Msg-Id dedupes
          throw e;
        }
      },
    });
  }

  line(stream: LogLine['stream'], step: number | null, text: string): void {
    this.batcher.push({ t: Date.now(), stream, step, text });
  }

  flush(): Promise<void> {
    return this.batcher.flush();
  }

  /** Flushes, then appends the end record that tells readers the log is complete. */
  async end(status: string): Promise<void> {
    await this.batcher.close();
    const c: LogChunk = { kind: 'end', buildId: this.buildId, attempt: this.attempt, status };
    await this.js.publish(this.names.subjects.log(this.buildId), encodeLogChunk(c), { msgID: logChunkMsgId(c) });
  }
}
