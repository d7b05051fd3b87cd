import { runService, useBodyParser } from '@kiln/service-kit';
import { AppModule } from './app.module';

void runService({
  name: 'ingest',
  module: AppModule,
  port: (c) => c.ingestPort,
  // webhooks need the exact bytes for the signature: raw body, 5 MiB at most
  configure: (app) => useBodyParser(app, '/webhooks', 'raw'),
});
