import { JetStreamManager, RetentionPolicy, StorageType, DiscardPolicy, StreamConfig } from 'nats';
import { KilnNames } from '@kiln/contracts';

const MINUTE_NS = 60 * 1_000_000_000;
const MS_NS = 1_000_000;
/** Msg-Id dedupe window of every stream (a retried publish within it is stored once). */
const DUPLICATE_WINDOW_NS = 2 * MINUTE_NS;

/** JetStream wants the dedupe window no longer than the max age. */
function logLimits(logMaxAgeMs: number): { max_age: number; duplicate_window: number } {
  const maxAge = logMaxAgeMs * MS_NS;
  return { max_age: maxAge, duplicate_window: maxAge > 0 ? Math.min(DUPLICATE_WINDOW_NS, maxAge) : DUPLICATE_WINDOW_NS };
}

/** Options of {@link streamConfigs} and {@link ensureStreams}. */
export interface StreamOptions {
  /**
   * Max age of records in the logs stream in milliseconds (`KILN_LOG_RETENTION`); 0 or
   * absent keeps them forever. Finished logs live on in the log archive (object store).
   */
  logMaxAgeMs?: number;
}

/** Stream definitions for one namespace. */
export function streamConfigs(names: KilnNames, replicas: number, opts: StreamOptions = {}): Partial<StreamConfig>[] {
  const common: Partial<StreamConfig> = {
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    num_replicas: replicas,
    duplicate_window: DUPLICATE_WINDOW_NS,
    allow_direct: true,
  };
  return [
    { ...common, name: names.streams.builds, subjects: [names.subjects.allBuilds] },
    { ...common, name: names.streams.workers, subjects: [names.subjects.allWorkers] },
    { ...common, name: names.streams.projects, subjects: [names.subjects.allProjects] },
    { ...common, name: names.streams.logs, subjects: [names.subjects.allLogs], ...logLimits(opts.logMaxAgeMs ?? 0) },
    { ...common, name: names.streams.deploys, subjects: [names.subjects.allDeploys] },
  ];
}

/** Creates Kiln's streams if missing (idempotent; safe for concurrent callers). */
export async function ensureStreams(jsm: JetStreamManager, names: KilnNames, replicas = 1, opts: StreamOptions = {}): Promise<void> {
  for (const cfg of streamConfigs(names, replicas, opts)) {
    try {
      await jsm.streams.info(cfg.name!);
    } catch {
      try {
        await jsm.streams.add(cfg);
      } catch (e) {
        // another service created it meanwhile
        await jsm.streams.info(cfg.name!).catch(() => {
          throw e;
        });
      }
    }
  }
}

/**
 * Sets the max age of an existing logs stream to `logMaxAgeMs` (0: forever) when it differs;
 * returns whether it changed. Only the logs stream's owner (log-store) calls this, so a
 * service started without the setting never undoes it.
 */
export async function applyLogRetention(jsm: JetStreamManager, names: KilnNames, logMaxAgeMs: number): Promise<boolean> {
  const info = await jsm.streams.info(names.streams.logs);
  const limits = logLimits(logMaxAgeMs);
  if (info.config.max_age === limits.max_age && info.config.duplicate_window === limits.duplicate_window) return false;
  await jsm.streams.update(names.streams.logs, { ...info.config, ...limits });
  return true;
}

/** The JetStream stream behind an object store bucket. */
export function objectStoreStream(bucket: string): string {
  return `OBJ_${bucket}`;
}

/** The JetStream stream behind a KV bucket. */
export function kvStream(bucket: string): string {
  return `KV_${bucket}`;
}

/** Deletes a namespace's streams and every bucket it may have made, KV or object store (tests, benchmarks). */
export async function deleteStreams(jsm: JetStreamManager, names: KilnNames): Promise<void> {
  const buckets = Object.values(names.buckets);
  const all = [...streamConfigs(names, 1).map((c) => c.name!), ...buckets.map(objectStoreStream), ...buckets.map(kvStream)];
  await Promise.all(all.map((name) => jsm.streams.delete(name).catch(() => undefined)));
}
