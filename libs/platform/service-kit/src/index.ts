export * from './tokens';
export * from './readiness';
export * from './health.controller';
export * from './core.module';
export * from './nest-logger';
export * from './bootstrap';
export * from './http-errors';
export * from './body';
