import { runService } from '@kiln/service-kit';
import { AppModule } from './app.module';

void runService({ name: 'pool-manager', module: AppModule, port: (c) => c.poolManagerPort });
