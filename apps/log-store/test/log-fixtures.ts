import { JetStreamClient } from 'nats';
import { encodeLogChunk, KilnNames, LogChunk, LogLine, logChunkMsgId } from '@kiln/contracts';

/**
 * Appends a build's log the way the runner does: numbered chunks of consecutive lines with
 * `Nats-Msg-Id`, then one end record. Keeps the lines it wrote, in order, for assertions.
 */
export class LogWriter {
  readonly written: LogLine[] = [];
  private chunk = 0;

  constructor(
    private readonly js: JetStreamClient,
    private readonly names: KilnNames,
    readonly buildId: string,
    readonly attempt = 1,
  ) {}

  /** One chunk of `count` lines (texts `<buildId> line <n>`), all of `step`. */
  async lines(count: number, step: number | null = 0): Promise<LogLine[]> {
    const lines: LogLine[] = [];
    for (let i = 0; i < count; i++) {
      const n = this.written.length + lines.length + 1;
      lines.push({ n, t: 1_700_000_000_000 + n, stream: n % 5 === 0 ? 'stderr' : 'stdout', step, text: `${this.buildId} line ${n}` });
    }
    await this.publish({ kind: 'lines', buildId: this.buildId, attempt: this.attempt, chunk: ++this.chunk, lines });
    this.written.push(...lines);
    return lines;
  }

  /** Chunks of the given sizes, in order. */
  async chunks(sizes: number[], step: number | null = 0): Promise<void> {
    for (const s of sizes) await this.lines(s, step);
  }

  async end(status = 'succeeded'): Promise<void> {
    await this.publish({ kind: 'end', buildId: this.buildId, attempt: this.attempt, status });
  }

  texts(filter: (l: LogLine) => boolean = () => true): string[] {
    return this.written.filter(filter).map((l) => l.text);
  }

  private async publish(c: LogChunk): Promise<void> {
    await this.js.publish(this.names.subjects.log(this.buildId), encodeLogChunk(c), { msgID: logChunkMsgId(c) });
  }
}

/** Resolves when `predicate` holds, polling every 10 ms; rejects after `timeoutMs`. */
export async function eventually(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
