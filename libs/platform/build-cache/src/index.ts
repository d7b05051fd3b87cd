export * from './cache-key';
export * from './cache-store';
export * from './local-cache';
export * from './prefetch';
