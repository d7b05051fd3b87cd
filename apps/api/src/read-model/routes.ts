import { DataSource } from 'typeorm';
import { buildCodec, KilnNames, projectCodec, workerCodec } from '@kiln/contracts';
import { checkpointOf } from '@kiln/persistence';
import { JetStreamRoute } from '@kiln/transport';
import { Projections } from './projections';

/** The JetStream routes of the api's projections; each starts after its checkpoint. */
export function projectionRoutes(names: KilnNames, ds: DataSource): Record<string, JetStreamRoute> {
  const route = (name: string, stream: string, filter: string, durable: string, codec: { decode: typeof buildCodec.decode }): JetStreamRoute => ({
    stream,
    filter,
    durable,
    decode: (m) => codec.decode(m.data, m.seq, m.subject),
    startSeq: async () => (await checkpointOf(ds, name)) + 1,
    resetWhenAhead: true,
    // the checkpoint moves with each applied event: a failed one must not be passed by later ones
    inOrder: true,
  });
  return {
    [Projections.builds]: route(Projections.builds, names.streams.builds, names.subjects.allBuilds, names.durables.apiBuilds, buildCodec),
    [Projections.projects]: route(Projections.projects, names.streams.projects, names.subjects.allProjects, names.durables.apiProjects, projectCodec as never),
    [Projections.workers]: route(Projections.workers, names.streams.workers, names.subjects.allWorkers, names.durables.apiWorkers, workerCodec as never),
  };
}
