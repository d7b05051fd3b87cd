export * from './env';
export * from './given';
export * from './eventually';
export * from './git';
