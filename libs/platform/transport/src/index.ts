export * from './jetstream.server';
