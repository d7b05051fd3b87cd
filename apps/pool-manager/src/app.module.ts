import { Module } from '@nestjs/common';
import { KilnConfig } from '@kiln/config';
import { CONFIG, KilnCoreModule, LOGGER } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
import { ProcessDriver } from './drivers/process-driver';
import { PoolService, WORKER_DRIVER } from './pool/pool.service';

@Module({
  imports: [KilnCoreModule.forRoot('pool-manager')],
  providers: [
    { provide: WORKER_DRIVER, useFactory: (cfg: KilnConfig, log: Logger) => new ProcessDriver(cfg.workRoot, log), inject: [CONFIG, LOGGER] },
    PoolService,
  ],
})
export class AppModule {}
