import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

/** A pass-through stream that counts bytes and hashes them (SHA-256) as they go by. */
export function sha256Meter(): { stream: Transform; digest: () => string; bytes: () => number } {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  return { stream, digest: () => hash.digest('hex'), bytes: () => bytes };
}
