import type { LogLine } from './log-line';

/** Options for {@link LogBatcher}. */
export interface LogBatcherOptions {
  /** Ships one batch; rejecting makes the batcher retry the same batch. Never called concurrently. */
  send: (lines: LogLine[]) => Promise<void>;
  /**
   * Upper bound of a batch, measured as the UTF-8 length of `JSON.stringify(batch)`
   * (default 64 KiB). A single line larger than this is sent alone.
   */
  maxBatchBytes?: number;
  /** How long {@link LogBatcher.close} keeps trying to send what is left before giving up (default 10 s). */
  closeTimeoutMs?: number;
  /** First retry delay after a failed send (default 100 ms); doubles after each failure. */
  retryInitialMs?: number;
  /** Largest retry delay (default 2 s). */
  retryMaxMs?: number;
  /** Called after every failed send attempt (for logging); `attempt` starts at 1. */
  onSendError?: (error: unknown, attempt: number) => void;
}

/** Default {@link LogBatcherOptions.maxBatchBytes}. */
export const DEFAULT_MAX_BATCH_BYTES = 64 * 1024;

interface FlushWaiter {
  n: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * Numbers log lines and ships them in order with at most one `send` in flight:
 * - lines pushed while idle are sent on the next microtask (so lines pushed together share a batch);
 * - lines pushed while a send is in flight are sent as soon as it completes;
 * - batches are capped at `maxBatchBytes` and split into sequential sends when needed;
 * - a failed send is retried with the same batch (backoff 100 ms doubling up to 2 s) until it
 *   succeeds, or until {@link LogBatcher.close} gives up after `closeTimeoutMs`.
 */
export class LogBatcher {
  private readonly queue: LogLine[] = [];
  private nextN = 1;
  private sentThrough = 0;
  private running = false;
  private closed = false;
  private gaveUp = false;
  private closePromise: Promise<void> | null = null;
  private waiters: FlushWaiter[] = [];
  private wakeSleeper: (() => void) | null = null;
  private readonly maxBatchBytes: number;

  constructor(private readonly options: LogBatcherOptions) {
    this.maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
  }

  /** Number of lines pushed but not yet acknowledged by `send`. */
  get unsentCount(): number {
    return this.nextN - 1 - this.sentThrough;
  }

  /** Appends a line, assigning the next sequence number; returns the numbered line. Throws after close(). */
  push(line: Omit<LogLine, 'n'>): LogLine {
    if (this.closed) throw new Error('LogBatcher: push after close');
    const numbered: LogLine = { n: this.nextN++, t: line.t, stream: line.stream, step: line.step, text: line.text };
    this.queue.push(numbered);
    if (!this.running) {
      this.running = true;
      queueMicrotask(() => void this.pump());
    }
    return numbered;
  }

  /**
   * Resolves when every line pushed so far has been sent. Rejects if the batcher gave up on
   * them (close timeout).
   */
  flush(): Promise<void> {
    const target = this.nextN - 1;
    if (this.sentThrough >= target) return Promise.resolve();
    if (this.gaveUp) return Promise.reject(this.giveUpError());
    return new Promise((resolve, reject) => this.waiters.push({ n: target, resolve, reject }));
  }

  /**
   * Stops accepting lines and waits until everything pushed was sent, or until `closeTimeoutMs`
   * elapsed; then stops retrying (lines still unsent are counted in {@link unsentCount}).
   * Never rejects; idempotent.
   */
  close(): Promise<void> {
    if (!this.closePromise) {
      this.closed = true;
      this.closePromise = new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.giveUp();
          resolve();
        }, this.options.closeTimeoutMs ?? 10_000);
        this.flush().then(
          () => {
            clearTimeout(timer);
            resolve();
          },
          () => {
            clearTimeout(timer);
            resolve();
          },
        );
      });
    }
    return this.closePromise;
  }

  private async pump(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.gaveUp) {
        const batch = this.takeBatch();
        const sent = await this.sendWithRetry(batch);
        if (!sent) {
          this.queue.unshift(...batch);
          break;
        }
        this.sentThrough = batch[batch.length - 1]?.n ?? this.sentThrough;
        this.settleWaiters();
      }
    } finally {
      this.running = false;
    }
    if (this.gaveUp) this.settleWaiters();
  }

  /** Removes from the queue the longest prefix that fits in maxBatchBytes (at least one line). */
  private takeBatch(): LogLine[] {
    let bytes = 2; // "[" and "]"
    let count = 0;
    for (const line of this.queue) {
      const size = jsonBytes(line) + (count > 0 ? 1 : 0);
      if (count > 0 && bytes + size > this.maxBatchBytes) break;
      bytes += size;
      count++;
    }
    return this.queue.splice(0, count);
  }

  private async sendWithRetry(batch: LogLine[]): Promise<boolean> {
    let delay = this.options.retryInitialMs ?? 100;
    const maxDelay = this.options.retryMaxMs ?? 2000;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.options.send(batch);
        return true;
      } catch (error) {
        this.options.onSendError?.(error, attempt);
      }
      if (this.gaveUp) return false;
      await this.sleep(delay);
      if (this.gaveUp) return false;
      delay = Math.min(delay * 2, maxDelay);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeSleeper = null;
        resolve();
      }, ms);
      this.wakeSleeper = () => {
        clearTimeout(timer);
        this.wakeSleeper = null;
        resolve();
      };
    });
  }

  private giveUp(): void {
    if (this.gaveUp) return;
    this.gaveUp = true;
    this.wakeSleeper?.();
    this.settleWaiters();
  }

  private settleWaiters(): void {
    const remaining: FlushWaiter[] = [];
    for (const w of this.waiters) {
      if (w.n <= this.sentThrough) w.resolve();
      else if (this.gaveUp) w.reject(this.giveUpError());
      else remaining.push(w);
    }
    this.waiters = remaining;
  }

  private giveUpError(): Error {
    return new Error(`LogBatcher: gave up sending ${this.unsentCount} log line(s) after the close timeout`);
  }
}

/** Characters JSON.stringify escapes in a string (quote, backslash, controls, lone surrogate halves). */
// eslint-disable-next-line no-control-regex -- these control characters are exactly what JSON escapes
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** UTF-8 length of `JSON.stringify(line)`, without building the string for plain text. */
export function jsonBytes(line: LogLine): number {
  const text = NEEDS_ESCAPE.test(line.text) ? Buffer.byteLength(JSON.stringify(line.text), 'utf8') : Buffer.byteLength(line.text, 'utf8') + 2;
  // {"n":1,"t":2,"stream":"stdout","step":0,"text":...}
  return 39 + String(line.n).length + String(line.t).length + line.stream.length + String(line.step).length + text;
}
