import { runService } from '@kiln/service-kit';
import { AppModule } from './app.module';

void runService({ name: 'scheduler', module: AppModule, port: (c) => c.schedulerPort });
