export * from './jetstream.server';
export * from './build-events-route';
