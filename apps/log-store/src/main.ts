import express from 'express';
import { runService } from '@kiln/service-kit';
import { AppModule } from './app.module';
import { connectArchiver } from './archive/connect-archiver';

void runService({
  name: 'log-store',
  module: AppModule,
  port: (c) => c.logStorePort,
  configure: (app) => {
    app.use(express.json());
    connectArchiver(app);
  },
});
