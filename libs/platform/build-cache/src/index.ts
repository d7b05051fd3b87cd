export * from './cache-key';
export * from './cache-store';
