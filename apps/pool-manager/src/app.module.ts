import { Module } from '@nestjs/common';
import { KilnConfig } from '@kiln/config';
import { CONFIG, KilnCoreModule, LOGGER } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
import { ProcessDriver } from './drivers/process-driver';
import { DockerApi } from '@kiln/docker';
import { DockerDriver } from './drivers/docker-driver';
import { PoolService, WORKER_DRIVER } from './pool/pool.service';

@Module({
  imports: [KilnCoreModule.forRoot('pool-manager')],
  providers: [
    {
      provide: WORKER_DRIVER,
      useFactory: async (cfg: KilnConfig, log: Logger) => {
        if (cfg.poolDriver === 'process') return new ProcessDriver(cfg.workRoot, log);
        const api = new DockerApi(cfg.dockerHost ?? cfg.dockerSocket);
        if (!(await api.ping())) throw new Error(`KILN_POOL_DRIVER=docker but no Docker engine answers at ${api.address} (set DOCKER_HOST or DOCKER_SOCKET)`);
        return new DockerDriver(api, cfg.poolDockerImage, log);
      },
      inject: [CONFIG, LOGGER],
    },
    PoolService,
  ],
})
export class AppModule {}
