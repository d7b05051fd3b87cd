export * from './docker-api';
