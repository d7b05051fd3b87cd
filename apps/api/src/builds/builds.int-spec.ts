import { newId } from '@kiln/contracts';
import { createAggregate } from '@kiln/event-store';
import { useTestApi } from '../../test/test-api';

/** GET /api/projects/:id/builds: filters, keyset pages and its 400s, over the read model fed by real JetStream. */
describe('listing builds over the API, on real NATS and PostgreSQL', () => {
  const token = 'builds-list-test-token';
  const api = useTestApi({
    namespacePrefix: 'bls',
    natsClientName: 'builds-list-test',
    env: { KILN_ADMIN_TOKEN: token, KILN_SECRET_KEY: 'builds-list-test-key' },
    readModel: true,
  });
  const { names, aggs } = api;
  const projectId = newId();
  const otherProjectId = newId();

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- API answers are read loosely; the test asserts their shape
  const call = async (path: string, auth = true): Promise<{ status: number; body: any }> => {
    const res = await fetch(api.base + path, { headers: auth ? { authorization: `Bearer ${token}` } : {} });
    return { status: res.status, body: await res.json() };
  };
  const ids = (body: { items: { id: string }[] }) => body.items.map((b) => b.id);

  /** A build of `branch` requested at minute `minute`, left requested, queued or cancelled. */
  async function givenBuild(project: string, branch: string, minute: number, status: 'requested' | 'queued' | 'cancelled'): Promise<string> {
    const buildId = newId();
    const subject = names.subjects.build(buildId);
    const at = new Date(Date.UTC(2026, 0, 1, 12, minute)).toISOString();
    const source = { repoUrl: '/r', ref: `refs/heads/${branch}`, sha: 'abcdef1', branch, author: null, message: `on ${branch}` };
    await createAggregate(api.store, aggs.build, subject, { type: 'RequestBuild', data: { buildId, projectId: project, trigger: 'push', deliveryId: null, source, requestedAt: at } }, { correlationId: buildId });
    if (status !== 'requested') await api.store.handle(aggs.build, subject, { type: 'QueueBuild', now: at }, { correlationId: buildId });
    if (status === 'cancelled') await api.store.handle(aggs.build, subject, { type: 'CancelBuild', reason: 'test', now: at }, { correlationId: buildId });
    return buildId;
  }

  // newest first, as the API lists them
  let expected: { id: string; branch: string; status: string }[];

  beforeAll(async () => {
    const given: [string, number, 'requested' | 'queued' | 'cancelled'][] = [
      ['main', 1, 'queued'],
      ['feature/x', 2, 'queued'],
      ['main', 3, 'cancelled'],
      ['main', 4, 'requested'],
      ['feature/x', 5, 'cancelled'],
    ];
    const built = [];
    // the API shows a build not yet queued by the scheduler as queued (and filters it so)
    for (const [branch, minute, status] of given) built.push({ id: await givenBuild(projectId, branch, minute, status), branch, status: status === 'requested' ? 'queued' : status });
    expected = built.reverse();
    await givenBuild(otherProjectId, 'main', 6, 'queued');
    for (let i = 0; i < 200; i++) {
      const l = await call(`/api/projects/${projectId}/builds`);
      if (l.body.items?.map((b: { status: string }) => b.status).join() === expected.map((b) => b.status).join()) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it("lists a project's builds newest first, and only that project's", async () => {
    const all = await call(`/api/projects/${projectId}/builds`);
    expect(all.status).toBe(200);
    expect(ids(all.body)).toEqual(expected.map((b) => b.id));
    expect(all.body.items.map((b: { status: string; source: { branch: string } }) => [b.status, b.source.branch])).toEqual(expected.map((b) => [b.status, b.branch]));
    expect(all.body.nextCursor).toBeNull();
  });

  it('pages by cursor: each build once, in order, and the last page has no next cursor', async () => {
    const seen: string[] = [];
    const pages: number[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { items: { id: string }[]; nextCursor: string | null } } = await call(`/api/projects/${projectId}/builds?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      pages.push(page.body.items.length);
      seen.push(...ids(page.body));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(pages).toEqual([2, 2, 1]);
    expect(seen).toEqual(expected.map((b) => b.id));
  });

  it('filters by status, by branch, and by both; pages through a filtered list', async () => {
    const want = (f: (b: { branch: string; status: string }) => boolean) => expected.filter(f).map((b) => b.id);
    expect(ids((await call(`/api/projects/${projectId}/builds?status=cancelled`)).body)).toEqual(want((b) => b.status === 'cancelled'));
    expect(ids((await call(`/api/projects/${projectId}/builds?branch=${encodeURIComponent('feature/x')}`)).body)).toEqual(want((b) => b.branch === 'feature/x'));
    expect(ids((await call(`/api/projects/${projectId}/builds?branch=main&status=queued`)).body)).toEqual(want((b) => b.branch === 'main' && b.status === 'queued'));
    expect((await call(`/api/projects/${projectId}/builds?branch=nowhere`)).body).toEqual({ items: [], nextCursor: null });

    const first = (await call(`/api/projects/${projectId}/builds?branch=main&limit=2`)).body;
    const second = (await call(`/api/projects/${projectId}/builds?branch=main&limit=2&cursor=${first.nextCursor}`)).body;
    expect([...ids(first), ...ids(second)]).toEqual(want((b) => b.branch === 'main'));
    expect(second.nextCursor).toBeNull();
  });

  it('answers a bad query with 400 and the error shape, naming the field', async () => {
    expect(await call(`/api/projects/${projectId}/builds?limit=0`)).toEqual({
      status: 400,
      body: { error: 'invalid', message: expect.stringMatching(/limit/), details: [{ path: 'limit', message: expect.any(String) }] },
    });
    expect(await call(`/api/projects/${projectId}/builds?status=sleeping`)).toMatchObject({ status: 400, body: { error: 'invalid', details: [{ path: 'status' }] } });
    expect(await call(`/api/projects/${projectId}/builds?cursor=not-a-cursor`)).toMatchObject({ status: 400, body: { error: 'invalid', message: 'invalid cursor "not-a-cursor"' } });
  });

  it('needs a token: 401 with the error shape', async () => {
    expect(await call(`/api/projects/${projectId}/builds`, false)).toEqual({ status: 401, body: { error: 'unauthorized', message: 'missing or invalid bearer token' } });
  });
});
