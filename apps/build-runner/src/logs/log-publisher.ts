import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import { decodeLogChunk, encodeLogChunk, KilnNames, LogChunk, logChunkMsgId } from '@kiln/contracts';
import { DEFAULT_LOG_MAX_BYTES } from '@kiln/config';
import { LogBatcher } from './log-batcher';
import type { LogLine, LogStream } from './log-line';
import { LogSpool } from './log-spool';
import { SecretMasker } from './secret-masker';

/** Options of {@link LogPublisher}. */
export interface LogPublisherOptions {
  /** Masks secrets in every line before it is batched; none by default. */
  masker?: SecretMasker;
  /**
   * Most bytes of step output (stdout/stderr) this log keeps: UTF-8 text plus one byte per
   * line (default 50 MiB, `KILN_LOG_MAX_BYTES`). Past it one system line says so, further
   * step output lines are dropped and counted, and `end()` reports how many.
   */
  maxBytes?: number;
  /**
   * File that takes the chunks that could not be published while the broker is away (created
   * on first use, deleted by `end()`); default a file in the system temp directory.
   */
  spoolPath?: string;
  /** How long one publish waits for its ack before its chunk goes to the spool (default 5 s). */
  publishTimeoutMs?: number;
  /**
   * Bytes of lines held in memory while a publish is outstanding; beyond it, the outstanding
   * chunk and everything after it go to the spool instead (default 8 MiB).
   */
  maxMemoryBytes?: number;
  /** Upper bound of one chunk (default 64 KiB). */
  maxBatchBytes?: number;
  /**
   * Lets a resend after a failure first look at the subject's last record, so a chunk whose
   * ack was lost is not stored twice even after the Msg-Id dedupe window (2 min) has passed.
   */
  jsm?: JetStreamManager;
  /** The connection: while it is down, spooled chunks wait for it instead of piling up in the client. */
  nc?: NatsConnection;
  /** First retry delay of a spooled chunk (default 100 ms); doubles up to `retryMaxMs` (default 2 s). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Told about failed publishes and disk errors (for the agent's log). */
  onWarning?: (message: string, detail: Record<string, unknown>) => void;
}

/** What a {@link LogPublisher} did so far. */
export interface LogPublisherStats {
  /** Lines accepted (numbered), system lines included. */
  lines: number;
  /** Bytes of step output kept (counted against `maxBytes`). */
  keptBytes: number;
  /** Step output lines and bytes dropped after the cap. */
  droppedLines: number;
  droppedBytes: number;
  /** Chunks numbered so far. */
  chunks: number;
  /** Chunks that went through the spool (broker away or slow). */
  spooledChunks: number;
  /** Chunks waiting in the spool now. */
  spoolPending: number;
  /** Approximate bytes of lines waiting in memory now (bounded by `maxMemoryBytes` plus one chunk). */
  memoryBytes: number;
}

const DEFAULT_PUBLISH_TIMEOUT_MS = 5000;
const DEFAULT_MAX_MEMORY_BYTES = 8 * 1024 * 1024;
/** Rough per-line overhead in memory besides its text. */
const LINE_OVERHEAD = 48;

/**
 * Ships a build attempt's log lines to `<ns>.log.<buildId>`, never blocking the build:
 *
 * 1. each line is masked (secrets → `***`) and counted against the log cap, then numbered;
 * 2. a line goes out at once when nothing is in flight; while a publish awaits its ack,
 *    lines batch into one chunk (up to 64 KiB). Chunks are numbered from 1 and published
 *    with `Nats-Msg-Id` `<buildId>:<attempt>:<chunk>`, one at a time, so they are stored in order;
 * 3. when a publish fails or times out (or too many lines wait in memory behind it), that
 *    chunk and every later one are appended to a local spool file, and a drainer publishes
 *    them from there, in order, with the numbers and Msg-Ids they already have, once the
 *    connection is back. Before resending after a failure it reads the subject's last record
 *    and skips chunks already stored, so nothing is lost or duplicated.
 *
 * `flush()` waits until everything pushed is stored; `end()` appends the end record.
 */
export class LogPublisher {
  private readonly batcher: LogBatcher;
  private readonly spool: LogSpool;
  private readonly subject: string;
  private readonly maxBytes: number;
  private readonly maxMemoryBytes: number;
  private readonly publishTimeoutMs: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private chunk = 0;
  private lines = 0;
  private keptBytes = 0;
  private truncated = false;
  private droppedLines = 0;
  private droppedBytes = 0;
  private spooledChunks = 0;
  /** Approximate bytes of lines numbered but not yet handed to a publish. */
  private queuedBytes = 0;
  /** A publish that was left running when its chunk went to the spool (memory pressure). */
  private inflight: { id: number; settled: Promise<boolean> } | null = null;
  private releasePressure: (() => void) | null = null;
  private draining: Promise<void> | null = null;
  private drainWaiters: (() => void)[] = [];
  private connected = true;
  private wakeOnReconnect: (() => void) | null = null;
  private statusWatch: { stop(): void } | null = null;
  /** Sources whose last line was a piece of a longer line (the masker may hold text back). */
  private readonly partialSources = new Map<string, { stream: LogStream; step: number | null }>();
  private ended = false;

  constructor(
    private readonly js: JetStreamClient,
    private readonly names: KilnNames,
    private readonly buildId: string,
    private readonly attempt: number,
    private readonly opts: LogPublisherOptions = {},
  ) {
    this.subject = names.subjects.log(buildId);
    this.maxBytes = opts.maxBytes ?? DEFAULT_LOG_MAX_BYTES;
    this.maxMemoryBytes = opts.maxMemoryBytes ?? DEFAULT_MAX_MEMORY_BYTES;
    this.publishTimeoutMs = opts.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS;
    this.retryInitialMs = opts.retryInitialMs ?? 100;
    this.retryMaxMs = opts.retryMaxMs ?? 2000;
    this.batcher = new LogBatcher({ send: (lines) => this.ship(lines), maxBatchBytes: opts.maxBatchBytes });
    this.spool = new LogSpool(opts.spoolPath ?? join(tmpdir(), `kiln-log-spool-${buildId}-${attempt}-${process.pid}`), (e) =>
      this.warn('log spool file failed; keeping chunks in memory', { err: e as Error }),
    );
    if (opts.nc) this.watchConnection(opts.nc);
  }

  /**
   * Adds a line. `partial` marks a piece of a longer line whose next piece follows on the same
   * stream and step (the masker joins them). Never blocks; lines after `end()` are ignored.
   */
  line(stream: LogStream, step: number | null, text: string, partial = false): void {
    if (this.ended) return;
    const source = `${step ?? '-'}:${stream}`;
    if (partial) this.partialSources.set(source, { stream, step });
    else this.partialSources.delete(source);
    const masked = this.opts.masker ? this.opts.masker.line(source, text, partial) : text;
    if (masked !== null) this.keep(stream, step, masked);
  }

  /** Resolves when every line added so far is stored in the stream (spooled ones included). */
  async flush(): Promise<void> {
    await this.batcher.flush();
    await this.drained();
  }

  /**
   * Releases held-back text, reports dropped lines, stores everything, then appends the end
   * record that tells readers the log is complete (retrying until the broker takes it), and
   * deletes the spool file.
   */
  async end(status: string): Promise<void> {
    if (this.ended) return;
    for (const [source, at] of this.partialSources) {
      const rest = this.opts.masker?.flush(source);
      if (rest) this.keep(at.stream, at.step, rest);
    }
    this.partialSources.clear();
    if (this.droppedLines > 0) {
      this.push('system', null, `kiln: ${this.droppedLines} line(s) of step output (${this.droppedBytes} bytes) dropped after the log cap of ${this.maxBytes} bytes`);
    }
    this.ended = true;
    await this.batcher.close();
    await this.drained();
    const c: LogChunk = { kind: 'end', buildId: this.buildId, attempt: this.attempt, status };
    const data = encodeLogChunk(c);
    for (let delay = this.retryInitialMs; ; delay = Math.min(delay * 2, this.retryMaxMs)) {
      try {
        await this.js.publish(this.subject, data, { msgID: logChunkMsgId(c), timeout: this.publishTimeoutMs });
        break;
      } catch (e) {
        this.warn('publishing the end of the log failed; retrying', { err: e as Error });
        await this.pause(delay);
      }
    }
    this.statusWatch?.stop();
    await this.spool.close();
  }

  stats(): LogPublisherStats {
    return {
      lines: this.lines,
      keptBytes: this.keptBytes,
      droppedLines: this.droppedLines,
      droppedBytes: this.droppedBytes,
      chunks: this.chunk,
      spooledChunks: this.spooledChunks,
      spoolPending: this.spool.length,
      memoryBytes: this.queuedBytes,
    };
  }

  /** Applies the cap to step output, then numbers the line. */
  private keep(stream: LogStream, step: number | null, text: string): void {
    if (stream !== 'system') {
      const size = Buffer.byteLength(text, 'utf8') + 1;
      if (this.truncated || this.keptBytes + size > this.maxBytes) {
        if (!this.truncated) {
          this.truncated = true;
          this.push('system', step, `kiln: log truncated at ${this.maxBytes} bytes; the build goes on`);
        }
        this.droppedLines++;
        this.droppedBytes += size;
        return;
      }
      this.keptBytes += size;
    }
    this.push(stream, step, text);
  }

  private push(stream: LogStream, step: number | null, text: string): void {
    this.batcher.push({ t: Date.now(), stream, step, text });
    this.lines++;
    this.queuedBytes += text.length + LINE_OVERHEAD;
    if (this.releasePressure && this.queuedBytes > this.maxMemoryBytes) this.releasePressure();
  }

  /** The batcher's send: never rejects; a chunk that cannot be published now goes to the spool. */
  private async ship(lines: LogLine[]): Promise<void> {
    for (const l of lines) this.queuedBytes -= l.text.length + LINE_OVERHEAD;
    const c: LogChunk = { kind: 'lines', buildId: this.buildId, attempt: this.attempt, chunk: ++this.chunk, lines };
    const data = encodeLogChunk(c);
    if (this.spool.length > 0 || this.inflight) return this.toSpool(c.chunk, data);
    const settled = this.publish(c.chunk, data).then(
      () => true,
      (e: unknown) => {
        this.warn('log publish failed; spooling to disk until the broker is back', { chunk: c.chunk, err: e as Error });
        return false;
      },
    );
    const pressure = new Promise<'pressure'>((resolve) => (this.releasePressure = () => resolve('pressure')));
    if (this.queuedBytes > this.maxMemoryBytes) this.releasePressure?.();
    const outcome = await Promise.race([settled, pressure]);
    this.releasePressure = null;
    if (outcome === true) return;
    // the broker is away or slow: this chunk and all after it wait on disk, in order
    if (outcome === 'pressure') this.inflight = { id: c.chunk, settled };
    return this.toSpool(c.chunk, data);
  }

  private async toSpool(id: number, data: Uint8Array): Promise<void> {
    this.spooledChunks++;
    await this.spool.append(id, data);
    this.startDrain();
  }

  /** Publishes chunk `id` with its Msg-Id (the `logChunkMsgId` of the chunk: `<buildId>:<attempt>:<chunk>`). */
  private publish(id: number, data: Uint8Array): Promise<unknown> {
    const msgID = logChunkMsgId({ kind: 'lines', buildId: this.buildId, attempt: this.attempt, chunk: id, lines: [] });
    return this.js.publish(this.subject, data, { msgID, timeout: this.publishTimeoutMs });
  }

  private startDrain(): void {
    if (this.draining) return;
    this.draining = this.drain()
      .catch((e: unknown) => this.warn('log spool drain failed; retrying', { err: e as Error }))
      .finally(() => {
        this.draining = null;
        if (this.spool.length > 0) {
          setTimeout(() => this.startDrain(), this.retryInitialMs);
          return;
        }
        const waiters = this.drainWaiters;
        this.drainWaiters = [];
        for (const w of waiters) w();
      });
  }

  /** Publishes spooled chunks in order until the spool is empty. */
  private async drain(): Promise<void> {
    let delay = this.retryInitialMs;
    // a chunk reaches the spool because its publish failed (or is still outstanding): the
    // first resend waits, and checks what the broker already has
    let failed = true;
    while (this.spool.length > 0) {
      const id = this.spool.firstId!;
      if (this.inflight?.id === id) {
        const ok = await this.inflight.settled;
        this.inflight = null;
        if (ok) {
          await this.spool.shift();
          failed = false;
          continue;
        }
        failed = true;
      }
      if (failed) {
        await this.pause(delay);
        delay = Math.min(delay * 2, this.retryMaxMs);
        // while the connection is down a publish would only wait in the client's buffer
        if (!this.connected) continue;
        if (await this.storedAlready(id)) {
          await this.spool.shift();
          continue;
        }
      }
      const record = await this.spool.peek();
      if (!record) continue;
      try {
        await this.publish(record.id, record.data);
        await this.spool.shift();
        failed = false;
        delay = this.retryInitialMs;
      } catch (e) {
        failed = true;
        this.warn('resending a spooled log chunk failed; retrying', { chunk: record.id, err: e as Error });
      }
    }
  }

  /** Whether the subject's last record is this attempt's chunk `id` or a later one (a lost ack). */
  private async storedAlready(id: number): Promise<boolean> {
    if (!this.opts.jsm) return false;
    try {
      const m = await this.opts.jsm.streams.getMessage(this.names.streams.logs, { last_by_subj: this.subject });
      const last = decodeLogChunk(m.data);
      return last.kind === 'lines' && last.attempt === this.attempt && last.chunk >= id;
    } catch {
      return false; // nothing there yet, or the broker did not answer: the Msg-Id still dedupes
    }
  }

  private drained(): Promise<void> {
    if (this.spool.length === 0 && !this.inflight && !this.draining) return Promise.resolve();
    return new Promise((resolve) => {
      this.drainWaiters.push(resolve);
      if (!this.draining) this.startDrain();
    });
  }

  /** Sleeps `ms`, or less when the connection comes back meanwhile. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.wakeOnReconnect === done) this.wakeOnReconnect = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeOnReconnect = done;
    });
  }

  private watchConnection(nc: NatsConnection): void {
    const status = nc.status() as AsyncIterable<{ type: string }> & { stop?: () => void };
    this.statusWatch = { stop: () => status.stop?.() };
    void (async () => {
      for await (const s of status) {
        if (s.type === 'disconnect') this.connected = false;
        else if (s.type === 'reconnect') {
          this.connected = true;
          this.wakeOnReconnect?.();
        }
      }
    })().catch(() => undefined);
  }

  private warn(message: string, detail: Record<string, unknown>): void {
    this.opts.onWarning?.(message, { buildId: this.buildId, attempt: this.attempt, ...detail });
  }
}
