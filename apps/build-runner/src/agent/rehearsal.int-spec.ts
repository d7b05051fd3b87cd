import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsConnection } from 'nats';
import { kilnNames } from '@kiln/contracts';
import { aggregates, connectNats, deleteStreams, ensureStreams, EventStore } from '@kiln/event-store';
import { testNamespace, testNatsUrl } from '@kiln/testing';
import { rehearseBuild } from './rehearsal';

describe('build rehearsal before a worker goes warm, on real NATS', () => {
  const names = kilnNames(testNamespace('rehe'));
  const aggs = aggregates(names);
  let nc: NatsConnection;
  let store: EventStore;
  let root: string;

  beforeAll(async () => {
    nc = await connectNats(testNatsUrl(), 'rehearsal-test');
    store = await EventStore.create(nc, names);
    await ensureStreams(store.jsm, names);
    root = await mkdtemp(join(tmpdir(), 'kiln-rehe-'));
  });
  afterAll(async () => {
    await deleteStreams(store.jsm, names);
    await nc.drain();
    await rm(root, { recursive: true, force: true });
  });

  it('runs a whole build through the decider, the reads and a step process, and writes nothing', async () => {
    const before = await Promise.all([aggs.build.stream, aggs.project.stream, aggs.worker.stream].map((s) => store.jsm.streams.info(s)));
    expect(await rehearseBuild(store, aggs, names, 'w-1', root)).toBe('build path rehearsed');
    const after = await Promise.all([aggs.build.stream, aggs.project.stream, aggs.worker.stream].map((s) => store.jsm.streams.info(s)));
    expect(after.map((i) => i.state.messages)).toEqual(before.map((i) => i.state.messages));
    // nothing left in the work root
    expect(await readdir(root)).toEqual([]);
  });
});
