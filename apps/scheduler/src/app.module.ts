import { Module } from '@nestjs/common';
import { KilnCoreModule } from '@kiln/service-kit';
import { SchedulerService } from './scheduling/scheduler.service';

@Module({
  imports: [KilnCoreModule.forRoot('scheduler')],
  providers: [SchedulerService],
})
export class AppModule {}
