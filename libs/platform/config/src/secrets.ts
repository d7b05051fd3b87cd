import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const PREFIX = 'enc:v1:';

function keyOf(secretKey: string): Buffer {
  return createHash('sha256').update(secretKey).digest();
}

/**
 * Encrypts a secret for storage in an event (AES-256-GCM, key derived from
 * `KILN_SECRET_KEY`): `enc:v1:<iv>.<tag>.<ciphertext>` in base64url.
 */
export function encryptSecret(secretKey: string, plain: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyOf(secretKey), iv);
  const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return PREFIX + [iv, cipher.getAuthTag(), ct].map((b) => b.toString('base64url')).join('.');
}

/** Decrypts what `encryptSecret` made; throws when the key is wrong or the text was altered. */
export function decryptSecret(secretKey: string, stored: string): string {
  if (!stored.startsWith(PREFIX)) throw new Error('not an encrypted secret');
  const [iv, tag, ct] = stored.slice(PREFIX.length).split('.').map((p) => Buffer.from(p, 'base64url'));
  const d = createDecipheriv('aes-256-gcm', keyOf(secretKey), iv);
  d.setAuthTag(tag);
  return Buffer.concat([d.update(ct), d.final()]).toString('utf8');
}
