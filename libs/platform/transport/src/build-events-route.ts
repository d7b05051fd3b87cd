import { buildCodec, KilnNames } from '@kiln/contracts';
import { JetStreamRoute } from './jetstream.server';

/**
 * A durable consumer of every build event for an integration that reacts to builds from
 * now on (the deployer, git-status): a new consumer starts after the stream's current end,
 * so installing it does not act on every build in history. An existing one resumes.
 */
export function newBuildEventsRoute(names: KilnNames, durable: string, streamLastSeq: () => Promise<number>, extra: Pick<JetStreamRoute, 'retryDelayMs'> = {}): JetStreamRoute {
  return {
    stream: names.streams.builds,
    filter: names.subjects.allBuilds,
    durable,
    decode: (m) => buildCodec.decode(m.data, m.seq, m.subject),
    startSeq: async () => (await streamLastSeq()) + 1,
    ...extra,
  };
}
