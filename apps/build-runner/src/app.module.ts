import { Module } from '@nestjs/common';
import { KilnCoreModule } from '@kiln/service-kit';
import { AgentService } from './agent/agent.service';

@Module({
  imports: [KilnCoreModule.forRoot('build-runner', { http: false })],
  providers: [AgentService],
})
export class AppModule {}
