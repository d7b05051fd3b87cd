import { BuildEventType, buildCodec, Headers, KilnNames } from '@kiln/contracts';
import { JetStreamRoute } from './jetstream.server';

/**
 * A durable consumer of the build events of `types` for an integration that reacts to builds
 * from now on (the deployer, git-status): a new consumer starts after the stream's current
 * end, so installing it does not act on every build in history. An existing one resumes.
 * Events of other types are acked by their `Kiln-Type` header without being decoded: each
 * build records a dozen or more events, and an integration that wants two of them should not
 * spend CPU on the rest while builds are starting on the same machine.
 */
export function newBuildEventsRoute(
  names: KilnNames,
  durable: string,
  types: ReadonlySet<BuildEventType>,
  streamLastSeq: () => Promise<number>,
  extra: Pick<JetStreamRoute, 'retryDelayMs'> = {},
): JetStreamRoute {
  return {
    stream: names.streams.builds,
    filter: names.subjects.allBuilds,
    durable,
    // a message without the header (written by hand) is decoded: the handler judges it
    wants: (m) => {
      const type = m.headers?.get(Headers.type);
      return !type || types.has(type as BuildEventType);
    },
    decode: (m) => buildCodec.decode(m.data, m.seq, m.subject),
    startSeq: async () => (await streamLastSeq()) + 1,
    ...extra,
  };
}
