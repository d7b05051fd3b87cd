import { AckPolicy, headers, JsMsg, NatsConnection, StorageType } from 'nats';
import { connectNats } from '@kiln/event-store';
import { Logger } from '@kiln/telemetry';
import { testNamespace, testNatsUrl, eventually } from '@kiln/testing';
import { JetStreamRoute, JetStreamServer } from './jetstream.server';

/** The transport on real JetStream: what a handler's failure does to the order of what follows. */
describe('JetStreamServer retries on real NATS', () => {
  const ns = testNamespace('jss');
  const stream = `${ns}_T`;
  let nc: NatsConnection;
  const servers: JetStreamServer[] = [];

  beforeAll(async () => {
    nc = await connectNats(testNatsUrl(), 'jetstream-server-test');
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: stream, subjects: [`${ns}.t.>`], storage: StorageType.Memory });
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await (await nc.jetstreamManager()).streams.delete(stream);
    await nc.drain();
  });

  /** Starts a server whose handler fails the first two times it sees 'b'; returns what it handled, in order. */
  async function run(durable: string, subject: string, extra: Partial<JetStreamRoute>): Promise<string[]> {
    const seen: string[] = [];
    let failuresLeft = 2;
    const route: JetStreamRoute = { stream, filter: `${ns}.t.${subject}`, durable, decode: (m: JsMsg) => m.string(), retryDelayMs: 50, ...extra };
    const server = new JetStreamServer({ connection: () => nc, routes: { r: route }, log: new Logger('jss-test', {}, 'error') });
    server.addHandler(
      'r',
      async (data: string) => {
        if (data === 'b' && failuresLeft-- > 0) {
          seen.push('b failed');
          throw new Error('database away for a moment');
        }
        seen.push(data);
      },
      true,
    );
    servers.push(server);
    const js = nc.jetstream();
    for (const v of ['a', 'b', 'c']) await js.publish(`${ns}.t.${subject}`, v);
    await new Promise<void>((resolve, reject) => server.listen((e?: unknown) => (e ? reject(e) : resolve())));
    await eventually(() => (seen.filter((s) => !s.endsWith('failed')).length === 3 ? true : undefined), 'all three handled', 10_000);
    return seen;
  }

  it('an in-order route retries a failed message in place: nothing after it is handled first', async () => {
    expect(await run('in-order', 'one', { inOrder: true })).toEqual(['a', 'b failed', 'b failed', 'b', 'c']);
    const info = await (await nc.jetstreamManager()).consumers.info(stream, 'in-order');
    expect(info.config.max_ack_pending).toBe(1); // one in flight across replicas too
  });

  it('a consumer made before its route became in-order is updated to one message in flight', async () => {
    const jsm = await nc.jetstreamManager();
    await jsm.consumers.add(stream, { durable_name: 'upgraded', ack_policy: AckPolicy.Explicit, filter_subject: `${ns}.t.three`, max_ack_pending: 1000 });
    expect(await run('upgraded', 'three', { inOrder: true })).toEqual(['a', 'b failed', 'b failed', 'b', 'c']);
    expect((await jsm.consumers.info(stream, 'upgraded')).config.max_ack_pending).toBe(1);
  });

  it('a message the route does not want is acked without being decoded or handled', async () => {
    const decoded: string[] = [];
    const handled: string[] = [];
    const route: JetStreamRoute = {
      stream,
      filter: `${ns}.t.typed`,
      durable: 'typed',
      wants: (m) => m.headers?.get('Kiln-Type') === 'Wanted',
      decode: (m: JsMsg) => {
        decoded.push(m.string());
        return m.string();
      },
    };
    const server = new JetStreamServer({ connection: () => nc, routes: { r: route }, log: new Logger('jss-test', {}, 'error') });
    server.addHandler('r', async (data: string) => void handled.push(data), true);
    servers.push(server);
    const js = nc.jetstream();
    for (const [v, type] of [['a', 'Wanted'], ['b', 'Other'], ['c', 'Wanted']]) {
      const h = headers();
      h.set('Kiln-Type', type);
      await js.publish(`${ns}.t.typed`, v, { headers: h });
    }
    await new Promise<void>((resolve, reject) => server.listen((e?: unknown) => (e ? reject(e) : resolve())));
    // all three acked, the unwanted one too: nothing waits for redelivery
    const jsm = await nc.jetstreamManager();
    const info = await eventually(async () => {
      const i = await jsm.consumers.info(stream, 'typed');
      return i.ack_floor.stream_seq === i.delivered.stream_seq && i.num_pending === 0 && i.num_ack_pending === 0 && handled.length === 2 ? i : undefined;
    }, 'all three acked', 10_000);
    expect(handled).toEqual(['a', 'c']);
    expect(decoded).toEqual(['a', 'c']);
    expect(info.num_redelivered).toBe(0);
  });

  it('another route naks a failed message and goes on: later messages may pass it', async () => {
    const seen = await run('any-order', 'two', {});
    expect(seen.indexOf('c')).toBeLessThan(seen.indexOf('b'));
  });
});
