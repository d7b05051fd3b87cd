export * from './cache-backend';
export * from './cache-key';
export * from './cache-store';
export * from './dir-cache-backend';
export * from './local-cache';
export * from './nats-cache-backend';
export * from './open-cache-store';
export * from './prefetch';
