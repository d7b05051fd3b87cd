import { Transform } from 'node:stream';

/**
 * A pass-through stream that fails with `message()` when no bytes came for `ms` while it
 * held none (time spent waiting on a slow reader downstream does not count). An Object
 * Store read whose chunks were deleted under it (the entry evicted while a build restored
 * it) otherwise waits forever for them.
 */
export function stallGuard(ms: number, message: () => string): Transform {
  let timer: NodeJS.Timeout | null = null;
  const arm = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => (stream.readableLength > 0 || stream.writableLength > 0 ? arm() : stream.destroy(new Error(message()))), ms);
  };
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      arm();
      cb(null, chunk);
    },
    flush(cb) {
      if (timer) clearTimeout(timer);
      cb();
    },
    destroy(err, cb) {
      if (timer) clearTimeout(timer);
      cb(err);
    },
  });
  arm();
  return stream;
}
