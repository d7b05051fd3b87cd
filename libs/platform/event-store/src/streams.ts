import { JetStreamManager, RetentionPolicy, StorageType, DiscardPolicy, StreamConfig } from 'nats';
import { KilnNames } from '@kiln/contracts';

const MINUTE_NS = 60 * 1_000_000_000;

/** Stream definitions for one namespace. */
export function streamConfigs(names: KilnNames, replicas: number): Partial<StreamConfig>[] {
  const common: Partial<StreamConfig> = {
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    num_replicas: replicas,
    duplicate_window: 2 * MINUTE_NS,
    allow_direct: true,
  };
  return [
    { ...common, name: names.streams.builds, subjects: [names.subjects.allBuilds] },
    { ...common, name: names.streams.workers, subjects: [names.subjects.allWorkers] },
    { ...common, name: names.streams.projects, subjects: [names.subjects.allProjects] },
    { ...common, name: names.streams.logs, subjects: [names.subjects.allLogs] },
  ];
}

/** Creates Kiln's streams if missing (idempotent; safe for concurrent callers). */
export async function ensureStreams(jsm: JetStreamManager, names: KilnNames, replicas = 1): Promise<void> {
  for (const cfg of streamConfigs(names, replicas)) {
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

/** Deletes a namespace's streams (tests). */
export async function deleteStreams(jsm: JetStreamManager, names: KilnNames): Promise<void> {
  for (const cfg of streamConfigs(names, 1)) {
    await jsm.streams.delete(cfg.name!).catch(() => undefined);
  }
}
