import { KilnConfig } from '@kiln/config';
import { CONFIG, LOGGER, runService, useBodyParser } from '@kiln/service-kit';
import { Logger } from '@kiln/telemetry';
import { AppModule } from './app.module';
import { OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { openApiDocument } from './openapi/openapi';
import { RATE_LIMITER, TOKEN_STORE } from './auth/tokens';
import { TokenStore } from './auth/token-store';
import { RateLimiter } from './auth/rate-limiter';
import { installProxies } from './gateway/proxies';
import { connectReadModel } from './read-model/connect';

void runService({
  background: true,
  name: 'api',
  module: AppModule,
  port: (c) => c.apiPort,
  configure: (app) => {
    const cfg = app.get<KilnConfig>(CONFIG);
    installProxies(app, cfg, app.get<TokenStore>(TOKEN_STORE), app.get<RateLimiter>(RATE_LIMITER));
    // the API's own description: /api/openapi.json and a browsable page at /api/docs
    SwaggerModule.setup('api/docs', app, openApiDocument(cfg.publicUrl) as unknown as OpenAPIObject, { jsonDocumentUrl: 'api/openapi.json', yamlDocumentUrl: 'api/openapi.yaml' });
    useBodyParser(app, '/api', 'json');
    connectReadModel(app);
    app.get<Logger>(LOGGER).info(`dashboard and API at ${cfg.publicUrl}`);
  },
});
