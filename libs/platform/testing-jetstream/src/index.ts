export * from './jetstream-store';
export * from './given-build';
