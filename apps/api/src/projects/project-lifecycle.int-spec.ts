import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId } from '@kiln/contracts';
import { decryptSecret } from '@kiln/config';
import { CacheStore } from '@kiln/build-cache';
import { createAggregate } from '@kiln/event-store';
import { useTestApi } from '../../test/test-api';

describe('project deletion and webhook secret rotation over the API, on real NATS and PostgreSQL', () => {
  const token = 'lifecycle-test-token';
  const key = 'lifecycle-test-key';
  const api = useTestApi({
    namespacePrefix: 'plc',
    natsClientName: 'project-lifecycle-test',
    env: { KILN_ADMIN_TOKEN: token, KILN_SECRET_KEY: key, KILN_WEBHOOK_SECRET_GRACE: '10m' },
    readModel: true,
  });
  const { names, aggs } = api;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- API answers are read loosely; the test asserts their shape
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const res = await fetch(api.base + path, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };

  /** Polls (test-side) until `fn` holds: the read model follows the stream a moment later. */
  async function eventually(fn: () => Promise<boolean>, what: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if (await fn()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  async function newProject(provider: 'github' | 'gitlab' = 'github'): Promise<string> {
    const r = await call('POST', '/api/projects', { name: 'app', repoUrl: `https://example.com/acme/${newId()}.git`, provider, webhookSecret: 'the-first-secret' });
    expect(r.status).toBe(201);
    return r.body.id as string;
  }

  async function webhookSecrets(id: string) {
    const { state } = await api.store.load(aggs.project, names.subjects.project(id));
    if (state.status !== 'active') throw new Error(`project ${id} is ${state.status}`);
    return { current: decryptSecret(key, state.webhookSecret), previous: state.previousWebhookSecret ? { secret: decryptSecret(key, state.previousWebhookSecret.secret), validUntil: state.previousWebhookSecret.validUntil } : null };
  }

  describe('POST /api/projects/:id/webhook-secret/rotate', () => {
    it('generates a strong secret, answers it like create, stores it encrypted, keeps the old one for the configured grace', async () => {
      const id = await newProject();
      const before = Date.now();
      const r = await call('POST', `/api/projects/${id}/webhook-secret/rotate`);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        id,
        rotatedAt: expect.any(String),
        previousSecretValidUntil: expect.any(String),
        webhook: { url: expect.stringMatching(/\/webhooks\/github$/), secret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), contentType: 'application/json', events: ['push'] },
      });
      const graceMs = Date.parse(r.body.previousSecretValidUntil) - Date.parse(r.body.rotatedAt);
      expect(graceMs).toBe(10 * 60_000);
      expect(Date.parse(r.body.rotatedAt)).toBeGreaterThanOrEqual(before - 1000);

      expect(await webhookSecrets(id)).toEqual({ current: r.body.webhook.secret, previous: { secret: 'the-first-secret', validUntil: r.body.previousSecretValidUntil } });
      const { events } = await api.store.load(aggs.project, names.subjects.project(id));
      expect(events.map((e) => e.type)).toEqual(['ProjectCreated', 'ProjectWebhookSecretRotated']);
      expect(JSON.stringify(events)).not.toContain(r.body.webhook.secret);

      const again = await call('POST', `/api/projects/${id}/webhook-secret/rotate`);
      expect(again.body.webhook.secret).not.toBe(r.body.webhook.secret);
    });

    it('takes a given secret and grace; graceSeconds 0 revokes the old secret at once', async () => {
      const id = await newProject('gitlab');
      const r = await call('POST', `/api/projects/${id}/webhook-secret/rotate`, { secret: 'my-own-new-secret', graceSeconds: 0 });
      expect(r).toMatchObject({ status: 200, body: { previousSecretValidUntil: null, webhook: { secret: 'my-own-new-secret', events: ['Push Hook', 'Tag Push Hook'] } } });
      expect(await webhookSecrets(id)).toEqual({ current: 'my-own-new-secret', previous: null });
      const r2 = await call('POST', `/api/projects/${id}/webhook-secret/rotate`, { secret: 'the-third-secret', graceSeconds: 90 });
      expect(Date.parse(r2.body.previousSecretValidUntil) - Date.parse(r2.body.rotatedAt)).toBe(90_000);
    });

    it('refuses a bad body (400) and an unknown project (404)', async () => {
      const id = await newProject();
      expect(await call('POST', `/api/projects/${id}/webhook-secret/rotate`, { secret: 'short' })).toMatchObject({ status: 400, body: { error: 'invalid', message: expect.stringMatching(/secret: at least 8 characters/) } });
      expect(await call('POST', `/api/projects/${id}/webhook-secret/rotate`, { graceSeconds: -1 })).toMatchObject({ status: 400 });
      expect(await call('POST', `/api/projects/${id}/webhook-secret/rotate`, { grace: 5 })).toMatchObject({ status: 400, body: { message: expect.stringMatching(/grace/) } });
      expect(await call('POST', '/api/projects/no-such-project/webhook-secret/rotate')).toMatchObject({ status: 404, body: { error: 'not_found' } });
      expect(await call('POST', '/api/projects/not.a.token/webhook-secret/rotate')).toMatchObject({ status: 404 });
      expect((await webhookSecrets(id)).current).toBe('the-first-secret');
    });
  });

  describe('DELETE /api/projects/:id', () => {
    it('removes the project from the API, refuses later commands, keeps build history, evicts its cache', async () => {
      const id = await newProject();
      await eventually(async () => (await call('GET', `/api/projects/${id}`)).status === 200, 'the project in the read model');
      // a finished build of it (history) and a cache entry
      const buildId = newId();
      await createAggregate(api.store, aggs.build, names.subjects.build(buildId), {
        type: 'RequestBuild',
        data: { buildId, projectId: id, trigger: 'manual', deliveryId: null, source: { repoUrl: '/r', ref: 'refs/heads/main', sha: 'abcdef1', branch: 'main', author: null, message: null }, requestedAt: new Date().toISOString() },
      }, { correlationId: buildId });
      await eventually(async () => (await call('GET', `/api/projects/${id}/builds`)).body.items?.length === 1, 'the build in the read model');
      const cache = await CacheStore.open(api.nc, names);
      const dir = mkdtempSync(join(tmpdir(), 'kiln-plc-'));
      writeFileSync(join(dir, 'f.txt'), 'cached');
      expect((await cache.save(id, 'deps-1', dir, ['f.txt'])).saved).toBe(true);
      rmSync(dir, { recursive: true, force: true });
      expect((await call('GET', `/api/projects/${id}/caches`)).body.items).toHaveLength(1);

      const del = await call('DELETE', `/api/projects/${id}`);
      expect(del).toEqual({ status: 204, body: null });

      await eventually(async () => (await call('GET', `/api/projects/${id}`)).status === 404, 'GET of the deleted project to answer 404');
      expect((await call('GET', '/api/projects')).body.items.map((p: { id: string }) => p.id)).not.toContain(id);
      expect((await call('GET', `/api/projects/${id}/caches`)).body.items).toEqual([]);
      // history stays
      expect((await call('GET', `/api/projects/${id}/builds`)).body.items.map((b: { id: string }) => b.id)).toEqual([buildId]);
      expect((await call('GET', `/api/builds/${buildId}`)).status).toBe(200);

      // deleting twice: a clear 404 that says so
      expect(await call('DELETE', `/api/projects/${id}`)).toMatchObject({ status: 404, body: { error: 'not_found', message: expect.stringMatching(new RegExp(`project ${id} was deleted at`)) } });
      // every command on it is refused
      expect(await call('PATCH', `/api/projects/${id}`, { concurrency: 3 })).toMatchObject({ status: 404, body: { message: expect.stringMatching(/was deleted/) } });
      expect(await call('POST', `/api/projects/${id}/webhook-secret/rotate`)).toMatchObject({ status: 404, body: { message: expect.stringMatching(/was deleted/) } });
      expect(await call('PUT', `/api/projects/${id}/secrets/NPM_TOKEN`, { value: 'long enough' })).toMatchObject({ status: 404, body: { message: expect.stringMatching(/was deleted/) } });
      expect(await call('GET', `/api/projects/${id}/secrets`)).toMatchObject({ status: 404 });
      expect(await call('POST', `/api/projects/${id}/builds`, { ref: 'main' })).toMatchObject({ status: 404 });
      expect(await call('POST', `/api/builds/${buildId}/retry`)).toMatchObject({ status: 404, body: { message: expect.stringMatching(/was deleted.*cannot be retried/) } });

      const { events } = await api.store.load(aggs.project, names.subjects.project(id));
      expect(events.map((e) => e.type)).toEqual(['ProjectCreated', 'ProjectDeleted']);
    });

    it('answers 404 for a project that never existed', async () => {
      expect(await call('DELETE', '/api/projects/no-such-project')).toMatchObject({ status: 404, body: { error: 'not_found', message: 'project no-such-project not found' } });
      expect(await call('DELETE', '/api/projects/not.a.token')).toMatchObject({ status: 404 });
    });

    it('needs an admin token: a read token gets 403 and the project stays', async () => {
      const id = await newProject();
      const created = await call('POST', '/api/tokens', { name: 'reader', scope: 'read' });
      expect(created.status).toBe(201);
      const res = await fetch(`${api.base}/api/projects/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${created.body.token}` } });
      expect(res.status).toBe(403);
      const { state } = await api.store.load(aggs.project, names.subjects.project(id));
      expect(state.status).toBe('active');
    });
  });
});
