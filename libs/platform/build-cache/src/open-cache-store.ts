import type { NatsConnection } from 'nats';
import type { KilnNames } from '@kiln/contracts';
import type { CacheBackendSetting } from '@kiln/config';
import type { CacheBackend } from './cache-backend';
import { CacheStore, CacheStoreOptions } from './cache-store';
import { DirCacheBackend } from './dir-cache-backend';
import { NatsCacheBackend } from './nats-cache-backend';

/** Opens the backend `KILN_CACHE_BACKEND` chose (`replicas` applies to the NATS buckets). */
export function openCacheBackend(setting: CacheBackendSetting, nc: NatsConnection, names: KilnNames, replicas = 1): Promise<CacheBackend> {
  return setting.kind === 'dir' ? DirCacheBackend.open(setting.path) : NatsCacheBackend.open(nc, names, replicas);
}

/** The build cache on the configured backend: what the agent and the api open. */
export async function openCacheStore(setting: CacheBackendSetting, nc: NatsConnection, names: KilnNames, replicas = 1, opts: CacheStoreOptions = {}): Promise<CacheStore> {
  return new CacheStore(await openCacheBackend(setting, nc, names, replicas), opts);
}
