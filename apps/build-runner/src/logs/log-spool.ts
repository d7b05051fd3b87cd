import { open, rm, type FileHandle } from 'node:fs/promises';

/** One spooled record: where it is in the file, or the bytes themselves when the disk failed. */
interface Entry {
  /** The caller's number for the record (a log chunk number). */
  readonly id: number;
  readonly length: number;
  readonly position: number;
  /** Set only when writing to the file failed: the record is kept in memory instead. */
  readonly data: Uint8Array | null;
}

/**
 * A first-in first-out queue of byte records in one local file: what a runner could not
 * publish while the broker was away waits here, in order, instead of in memory. Memory
 * holds a few numbers per record; the file is truncated whenever the queue runs empty.
 * If the disk refuses a write the record is kept in memory rather than lost.
 * Operations are serialized; not safe for several processes.
 */
export class LogSpool {
  private file: FileHandle | null = null;
  private readonly entries: Entry[] = [];
  private head = 0;
  private writeAt = 0;
  private spooledBytes = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    /** The spool file; created on first append, deleted by {@link close}. */
    readonly path: string,
    private readonly onDiskError: (e: unknown) => void = () => undefined,
  ) {}

  /** Records waiting. */
  get length(): number {
    return this.entries.length - this.head;
  }

  /** Bytes waiting. */
  get bytes(): number {
    return this.spooledBytes;
  }

  /** Id of the oldest record, or null when empty. */
  get firstId(): number | null {
    return this.length > 0 ? this.entries[this.head].id : null;
  }

  /** Appends a record at the end. */
  append(id: number, data: Uint8Array): Promise<void> {
    return this.serial(async () => {
      if (this.closed) throw new Error('LogSpool: append after close');
      try {
        const file = await this.handle();
        let written = 0;
        while (written < data.length) {
          const r = await file.write(data, written, data.length - written, this.writeAt + written);
          written += r.bytesWritten;
        }
        this.entries.push({ id, length: data.length, position: this.writeAt, data: null });
        this.writeAt += data.length;
      } catch (e) {
        this.onDiskError(e);
        this.entries.push({ id, length: data.length, position: -1, data: Uint8Array.from(data) });
      }
      this.spooledBytes += data.length;
    });
  }

  /** The oldest record (id and bytes), or null when empty. */
  peek(): Promise<{ id: number; data: Uint8Array } | null> {
    return this.serial(async () => {
      if (this.length === 0) return null;
      const e = this.entries[this.head];
      if (e.data) return { id: e.id, data: e.data };
      const buf = Buffer.allocUnsafe(e.length);
      let read = 0;
      while (read < e.length) {
        const r = await this.file!.read(buf, read, e.length - read, e.position + read);
        if (r.bytesRead === 0) throw new Error(`LogSpool: ${this.path} is shorter than expected`);
        read += r.bytesRead;
      }
      return { id: e.id, data: buf };
    });
  }

  /** Drops the oldest record; the file is emptied when nothing is left. */
  shift(): Promise<void> {
    return this.serial(async () => {
      if (this.length === 0) return;
      this.spooledBytes -= this.entries[this.head].length;
      this.head++;
      if (this.length === 0) {
        this.entries.length = 0;
        this.head = 0;
        this.writeAt = 0;
        await this.file?.truncate(0).catch((e: unknown) => this.onDiskError(e));
      } else if (this.head > 1024 && this.head * 2 > this.entries.length) {
        this.entries.splice(0, this.head);
        this.head = 0;
      }
    });
  }

  /** Forgets every record and deletes the file. Idempotent. */
  close(): Promise<void> {
    return this.serial(async () => {
      if (this.closed) return;
      this.closed = true;
      this.entries.length = 0;
      this.head = 0;
      this.spooledBytes = 0;
      await this.file?.close().catch(() => undefined);
      this.file = null;
      await rm(this.path, { force: true }).catch(() => undefined);
    });
  }

  private async handle(): Promise<FileHandle> {
    if (!this.file) this.file = await open(this.path, 'w+', 0o600);
    return this.file;
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.chain.then(op);
    this.chain = next.catch(() => undefined);
    return next;
  }
}
