import { randomBytes } from 'node:crypto';

/** NATS URL for integration tests (`NATS_URL`, default the local server). */
export function testNatsUrl(): string {
  return process.env.NATS_URL || 'nats://127.0.0.1:4222';
}

/** PostgreSQL URL for integration tests (`DATABASE_URL`, default the local server). */
export function testDatabaseUrl(): string {
  return process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
}

/** A namespace no other test run uses: its own streams, subjects and schema. */
export function testNamespace(prefix = 't'): string {
  return `${prefix}${Date.now().toString(36)}${randomBytes(3).toString('hex')}`.toLowerCase().slice(0, 31);
}
