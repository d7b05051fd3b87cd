import { runService } from '@kiln/service-kit';
import { AppModule } from './app.module';

// The agent opens no port: it connects out to NATS only; its health is its heartbeat.
void runService({ name: 'build-runner', module: AppModule, port: () => null });
