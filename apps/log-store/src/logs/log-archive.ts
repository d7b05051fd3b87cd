import { JetStreamClient, ObjectStore, StorageType } from 'nats';
import { decodeLogChunk, KilnNames, LogChunk } from '@kiln/contracts';

/** Value of the `format` metadata (and manifest field) of an archived log. */
export const ARCHIVE_FORMAT = 'kiln-log-archive/v1';

/** A segment is closed once it holds about this many bytes (a record is never split). */
export const SEGMENT_BYTES = 1024 * 1024;

/** Bytes of parsed segments kept in memory for reads (least recently used go first). */
const SEGMENT_CACHE_BYTES = 48 * 1024 * 1024;

/** One stored log record (a `lines` chunk or an `end` record) at its stream sequence. */
export interface ArchivedRecord {
  seq: number;
  chunk: LogChunk;
}

/** One object of an archived log: consecutive records, as JSON lines `{"seq":..,"chunk":..}`. */
export interface ArchiveSegment {
  /** Object name: `<buildId>/<firstSeq>`. */
  name: string;
  firstSeq: number;
  lastSeq: number;
  records: number;
  lines: number;
  bytes: number;
}

/**
 * The archive of one build's log: the object named `<buildId>` in the log archive bucket.
 * Its existence (with `metadata.format` = {@link ARCHIVE_FORMAT}) records that the log up
 * to `lastSeq` is archived; its body lists the segments holding the records.
 */
export interface ArchiveManifest {
  format: typeof ARCHIVE_FORMAT;
  buildId: string;
  /** Stream sequence of the last archived record (the `end` record that triggered it). */
  lastSeq: number;
  /** Status of the first end record archived. */
  end: { status: string } | null;
  records: number;
  lines: number;
  segments: ArchiveSegment[];
  archivedAt: string;
}

/** A stored record to archive: its stream sequence and raw bytes. */
export interface SourceRecord {
  seq: number;
  data: Uint8Array;
}

/**
 * Finished build logs in a NATS Object Store bucket (`<ns>_log_archive`), so that the logs
 * stream can age records out while every read keeps working with the same cursors.
 *
 * A log is stored as segments of about 1 MiB (`<buildId>/<firstSeq>`, records in stream
 * order, each with its stream sequence, so a cursor `<seq>-<index>` means the same line in
 * the archive as in the stream) and a manifest object `<buildId>` written last: a reader
 * that finds the manifest finds every segment it names. Archiving again after more records
 * arrived (a later attempt's end) appends segments and rewrites the manifest; segments are
 * never rewritten.
 */
export class LogArchive {
  private readonly manifests = new Map<string, { nuid: string; manifest: ArchiveManifest }>();
  private readonly segments = new Map<string, { records: ArchivedRecord[]; bytes: number }>();
  private cachedBytes = 0;

  private constructor(private readonly os: ObjectStore) {}

  /** Opens the bucket, creating it when missing. */
  static async open(js: JetStreamClient, names: KilnNames, replicas = 1): Promise<LogArchive> {
    const os = await js.views.os(names.buckets.logArchive, { storage: StorageType.File, replicas, description: 'Kiln: finished build logs' });
    return new LogArchive(os);
  }

  /** The build's manifest, or null when its log is not archived. */
  async manifest(buildId: string): Promise<ArchiveManifest | null> {
    const info = await this.os.info(buildId);
    if (!info || info.deleted || info.metadata?.format !== ARCHIVE_FORMAT) return null;
    const cached = this.manifests.get(buildId);
    if (cached && cached.nuid === info.nuid) return cached.manifest;
    const blob = await this.os.getBlob(buildId);
    if (!blob) return null;
    const manifest = JSON.parse(Buffer.from(blob).toString('utf8')) as ArchiveManifest;
    this.manifests.delete(buildId);
    this.manifests.set(buildId, { nuid: info.nuid, manifest });
    if (this.manifests.size > 1000) this.manifests.delete(this.manifests.keys().next().value as string);
    return manifest;
  }

  /** The archived records with a sequence at or after `fromSeq`, in order. */
  async *records(manifest: ArchiveManifest, fromSeq: number): AsyncGenerator<ArchivedRecord> {
    for (const segment of manifest.segments) {
      if (segment.lastSeq < fromSeq) continue;
      const records = await this.segment(segment);
      let i = 0;
      if (records.length && records[0].seq < fromSeq) {
        // binary search for the first record at or after fromSeq
        let lo = 0;
        let hi = records.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (records[mid].seq < fromSeq) lo = mid + 1;
          else hi = mid;
        }
        i = lo;
      }
      for (; i < records.length; i++) {
        if (records[i].seq > manifest.lastSeq) return;
        yield records[i];
      }
    }
  }

  /**
   * Archives the records of `buildId` up to `untilSeq` that are not archived yet, read from
   * `source(fromSeq)` (the stream, in order). Idempotent: returns `already` when the
   * manifest covers `untilSeq`, `empty` when there was nothing to archive.
   * `progress` is called as segments are written (to keep a consumer's ack alive).
   */
  async archive(
    buildId: string,
    untilSeq: number,
    source: (fromSeq: number) => AsyncIterable<SourceRecord>,
    progress: () => void = () => undefined,
  ): Promise<'archived' | 'already' | 'empty'> {
    const previous = await this.manifest(buildId);
    if (previous && previous.lastSeq >= untilSeq) return 'already';
    const manifest: ArchiveManifest = previous
      ? { ...previous, segments: [...previous.segments] }
      : { format: ARCHIVE_FORMAT, buildId, lastSeq: 0, end: null, records: 0, lines: 0, segments: [], archivedAt: '' };
    let parts: Buffer[] = [];
    let current: ArchiveSegment | null = null;
    const close = async () => {
      if (!current) return;
      const data = Buffer.concat(parts);
      await this.os.putBlob({ name: current.name, options: { max_chunk_size: 512 * 1024 } }, data);
      manifest.segments.push(current);
      current = null;
      parts = [];
      progress();
    };
    let added = 0;
    for await (const r of source(manifest.lastSeq + 1)) {
      if (r.seq > untilSeq) break;
      let chunk: LogChunk;
      try {
        chunk = decodeLogChunk(r.data);
      } catch {
        continue; // readers skip a malformed record; the archive leaves it out
      }
      current ??= { name: `${buildId}/${r.seq}`, firstSeq: r.seq, lastSeq: r.seq, records: 0, lines: 0, bytes: 0 };
      const line = Buffer.concat([Buffer.from(`{"seq":${r.seq},"chunk":`), Buffer.from(r.data), Buffer.from('}\n')]);
      parts.push(line);
      current.lastSeq = r.seq;
      current.records++;
      current.bytes += line.length;
      manifest.records++;
      added++;
      if (chunk.kind === 'lines') {
        current.lines += chunk.lines.length;
        manifest.lines += chunk.lines.length;
      } else if (!manifest.end) {
        manifest.end = { status: chunk.status };
      }
      if (current.bytes >= SEGMENT_BYTES) await close();
      if (r.seq >= untilSeq) break;
    }
    await close();
    if (added === 0 && !previous) return 'empty';
    manifest.lastSeq = Math.max(manifest.lastSeq, untilSeq);
    manifest.archivedAt = new Date().toISOString();
    await this.os.putBlob(
      {
        name: buildId,
        description: `log of build ${buildId}`,
        metadata: {
          format: ARCHIVE_FORMAT,
          lastSeq: String(manifest.lastSeq),
          lines: String(manifest.lines),
          segments: String(manifest.segments.length),
          status: manifest.end?.status ?? '',
        },
      },
      Buffer.from(JSON.stringify(manifest)),
    );
    return 'archived';
  }

  private async segment(segment: ArchiveSegment): Promise<ArchivedRecord[]> {
    const hit = this.segments.get(segment.name);
    if (hit) {
      this.segments.delete(segment.name);
      this.segments.set(segment.name, hit);
      return hit.records;
    }
    const blob = await this.os.getBlob(segment.name);
    if (!blob) throw new Error(`log archive segment ${segment.name} is missing`);
    const text = Buffer.from(blob).toString('utf8');
    const records: ArchivedRecord[] = [];
    for (let start = 0; start < text.length; ) {
      let end = text.indexOf('\n', start);
      if (end === -1) end = text.length;
      if (end > start) records.push(JSON.parse(text.slice(start, end)) as ArchivedRecord);
      start = end + 1;
    }
    this.segments.set(segment.name, { records, bytes: blob.length });
    this.cachedBytes += blob.length;
    while (this.cachedBytes > SEGMENT_CACHE_BYTES && this.segments.size > 1) {
      const [oldest, v] = this.segments.entries().next().value as [string, { bytes: number }];
      this.segments.delete(oldest);
      this.cachedBytes -= v.bytes;
    }
    return records;
  }
}
