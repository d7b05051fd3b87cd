import { createHash } from 'node:crypto';
import { NatsConnection } from 'nats';
import { kilnNames } from '@kiln/contracts';
import { connectNats } from '@kiln/event-store';
import { testNamespace, testNatsUrl } from '@kiln/testing';
import { TokenStore } from './token-store';

describe('TokenStore on a real NATS KV bucket', () => {
  const bucket = kilnNames(testNamespace('tok')).buckets.apiTokens;
  let nc: NatsConnection;
  let a: TokenStore;
  let b: TokenStore;

  beforeAll(async () => {
    nc = await connectNats(testNatsUrl(), 'token-store-test');
    a = await TokenStore.open(nc, bucket, 'the-admin-token');
    b = await TokenStore.open(nc, bucket, 'the-admin-token'); // a second api replica
  });

  afterAll(async () => {
    a.close();
    b.close();
    await (await nc.jetstreamManager()).streams.delete(`KV_${bucket}`).catch(() => undefined);
    await nc.drain();
  });

  async function eventually(fn: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 100 && !fn(); i++) await new Promise((r) => setTimeout(r, 20));
    if (!fn()) throw new Error(`timed out waiting for ${what}`);
  }

  it('keeps only the SHA-256 of a token: the token itself is nowhere in the bucket', async () => {
    const { token, record } = await a.create('ci', 'read');
    const stored = await (await nc.jetstream().views.kv(bucket)).get(record.id);
    const raw = new TextDecoder().decode(stored!.value);
    expect(raw).not.toContain(token);
    expect(JSON.parse(raw)).toEqual({ id: record.id, name: 'ci', scope: 'read', sha256: createHash('sha256').update(token).digest('hex'), createdAt: expect.any(String), revokedAt: null });
    expect(a.verify(token)).toEqual({ tokenId: record.id, name: 'ci', scope: 'read' });
  });

  it('a token works on every replica with its scope; a revoke reaches them all; the record stays, marked revoked', async () => {
    const { token, record } = await a.create('deployer', 'admin');
    await eventually(() => b.verify(token) !== null, 'the other replica to know the token');
    expect(b.verify(token)).toEqual({ tokenId: record.id, name: 'deployer', scope: 'admin' });

    expect(await a.revoke(record.id)).toBe(true);
    expect(a.verify(token)).toBeNull();
    await eventually(() => b.verify(token) === null, 'the other replica to refuse the revoked token');
    expect((await b.list()).find((t) => t.id === record.id)).toMatchObject({ revokedAt: expect.any(String) });
    expect(await b.revoke('no-such-token')).toBe(false);
  });

  it('refuses a missing or unknown token; the admin token is always admin', () => {
    expect(a.verify(null)).toBeNull();
    expect(a.verify('kiln_not-a-token')).toBeNull();
    expect(a.verify('the-admin-token')).toEqual({ tokenId: 'admin', name: 'KILN_ADMIN_TOKEN', scope: 'admin' });
  });
});
