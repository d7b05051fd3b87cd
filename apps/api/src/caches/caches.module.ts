import { Controller, Delete, Get, Inject, Module, OnApplicationBootstrap, OnApplicationShutdown, Param } from '@nestjs/common';
import { NatsConnection } from 'nats';
import { KilnNames, NotFoundError } from '@kiln/contracts';
import { KilnConfig } from '@kiln/config';
import { CacheStore, openCacheStore } from '@kiln/build-cache';
import { CONFIG, LOGGER, NAMES, NATS } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
import { CacheSweep } from './cache-sweep';

export const CACHE_STORE = Symbol('CACHE_STORE');

/** A project's build cache: list entries (size, last use, hits) and evict one. */
@Controller('api/projects/:id/caches')
export class CachesController {
  constructor(@Inject(CACHE_STORE) private readonly cache: CacheStore) {}

  @Get()
  async list(@Param('id') projectId: string) {
    const entries = await this.cache.list(projectId);
    return {
      items: entries.map((e) => ({ key: e.key, size: e.size, sha256: e.sha256, createdAt: e.createdAt, lastUsedAt: e.lastUsedAt, hits: e.hits })),
      totalBytes: entries.reduce((n, e) => n + e.size, 0),
    };
  }

  @Delete(':key')
  async evict(@Param('id') projectId: string, @Param('key') key: string) {
    if (!(await this.cache.evict(projectId, key))) throw new NotFoundError(`no cache entry "${key}" in project ${projectId}`);
    return { evicted: key };
  }
}

@Module({
  controllers: [CachesController],
  providers: [
    {
      provide: CACHE_STORE,
      useFactory: (nc: NatsConnection, names: KilnNames, cfg: KilnConfig) => openCacheStore(cfg.cacheBackend, nc, names, cfg.streamReplicas),
      inject: [NATS, NAMES, CONFIG],
    },
  ],
  // the projects controller evicts a deleted project's entries
  exports: [CACHE_STORE],
})
export class CachesModule implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly sweep: CacheSweep;

  constructor(@Inject(CACHE_STORE) cache: CacheStore, @Inject(CONFIG) cfg: KilnConfig, @Inject(LOGGER) log: Logger) {
    this.sweep = new CacheSweep(cache, { maxBytes: cfg.cacheMaxBytes, maxAgeMs: cfg.cacheMaxAgeMs }, log);
  }

  onApplicationBootstrap(): void {
    this.sweep.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.sweep.stop();
  }
}
