import { createHash, randomUUID } from 'node:crypto';

/**
 * A build id derived from the webhook delivery: the same delivery (also when the host
 * redelivers it days later, past JetStream's dedupe window) always names the same build,
 * whose first append expects an empty subject, so it can only be created once.
 */
export function buildIdForDelivery(provider: string, deliveryId: string, projectId: string): string {
  return uuidFromHash(`${provider}:${deliveryId}:${projectId}`);
}

/** A random id for things with no natural key (manual builds, workers, projects). */
export function newId(): string {
  return randomUUID();
}

function uuidFromHash(text: string): string {
  const h = createHash('sha256').update(text).digest('hex');
  // RFC 4122 layout, version 5-style nibble, variant bits set
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
