import { Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { KilnConfig } from '@kiln/config';
import { CONFIG, HttpErrorFilter, KilnCoreModule, LOGGER, NAMES, NATS, Readiness } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
import { DataSource } from 'typeorm';
import { AuthGuard } from './auth/auth.guard';
import { CachesModule } from './caches/caches.module';
import { DEV_ADMIN_TOKEN } from './auth/admin-token';
import { ADMIN_TOKEN, RATE_LIMITER, TOKEN_STORE } from './auth/tokens';
import { TokenStore } from './auth/token-store';
import { RateLimiter } from './auth/rate-limiter';
import { TokensController } from './auth/tokens.controller';
import { NatsConnection } from 'nats';
import { KilnNames } from '@kiln/contracts';
import { BuildsController } from './builds/builds.controller';
import { DashboardController } from './dashboard/dashboard.controller';
import { DeploysController } from './deploys/deploys.controller';
import { PoolController } from './pool/pool.controller';
import { ProjectsController } from './projects/projects.controller';
import { ProjectSecretsController } from './projects/project-secrets.controller';
import { ProjectionsController } from './read-model/projections.controller';
import { ReadModelProjections } from './read-model/projections';
import { openReadDb, READ_DB } from './read-model/read-db';

@Module({
  imports: [KilnCoreModule.forRoot('api'), CachesModule],
  controllers: [TokensController, ProjectsController, ProjectSecretsController, BuildsController, DeploysController, PoolController, DashboardController, ProjectionsController],
  providers: [
    {
      provide: READ_DB,
      useFactory: async (cfg: KilnConfig, readiness: Readiness) => {
        const ds = await openReadDb(cfg);
        readiness.register('postgres', async () => {
          await ds.query('SELECT 1');
        });
        return ds;
      },
      inject: [CONFIG, Readiness],
    },
    {
      provide: ADMIN_TOKEN,
      useFactory: (cfg: KilnConfig, log: Logger) => {
        if (cfg.adminToken) return cfg.adminToken;
        log.warn(`KILN_ADMIN_TOKEN is not set: using the development token "${DEV_ADMIN_TOKEN}"; set KILN_ADMIN_TOKEN for any shared installation`);
        return DEV_ADMIN_TOKEN;
      },
      inject: [CONFIG, LOGGER],
    },
    {
      provide: TOKEN_STORE,
      useFactory: (nc: NatsConnection, names: KilnNames, cfg: KilnConfig, adminToken: string) => TokenStore.open(nc, names.buckets.apiTokens, adminToken, cfg.streamReplicas),
      inject: [NATS, NAMES, CONFIG, ADMIN_TOKEN],
    },
    { provide: RATE_LIMITER, useFactory: (cfg: KilnConfig) => new RateLimiter(cfg.apiRateLimit), inject: [CONFIG] },
    ReadModelProjections,
    { provide: APP_GUARD, useClass: AuthGuard },
    { provide: APP_FILTER, useFactory: (log: Logger) => new HttpErrorFilter(log), inject: [LOGGER] },
  ],
})
export class AppModule {
  constructor() {}
}

export type { DataSource };
