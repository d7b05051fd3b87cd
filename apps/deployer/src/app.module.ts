import { Module } from '@nestjs/common';
import { KilnCoreModule } from '@kiln/service-kit';
import { BuildEventsController } from './deploys/build-events.controller';
import { DeployerService } from './deploys/deployer.service';

@Module({
  imports: [KilnCoreModule.forRoot('deployer')],
  controllers: [BuildEventsController],
  providers: [DeployerService],
})
export class AppModule {}
