import { decryptSecret } from '@kiln/config';
import { useTestApi } from '../../test/test-api';

describe('project secrets API on real NATS and PostgreSQL', () => {
  const token = 'secrets-test-token';
  const key = 'secrets-test-key';
  const api = useTestApi({ namespacePrefix: 'sec', natsClientName: 'project-secrets-test', env: { KILN_ADMIN_TOKEN: token, KILN_SECRET_KEY: key } });
  const { names, aggs } = api;

  const call = async (method: string, path: string, body?: unknown, auth = true) => {
    const res = await fetch(api.base + path, {
      method,
      headers: { ...(auth ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };

  async function newProject(): Promise<string> {
    const r = await call('POST', '/api/projects', { name: 'app', repoUrl: '/tmp/none.git', provider: 'github', webhookSecret: 'a-long-secret' });
    expect(r.status).toBe(201);
    return r.body.id as string;
  }

  it('stores a value encrypted, lists names only, replaces and removes', async () => {
    const id = await newProject();
    expect(await call('GET', `/api/projects/${id}/secrets`)).toEqual({ status: 200, body: { items: [] } });

    const put = await call('PUT', `/api/projects/${id}/secrets/NPM_TOKEN`, { value: 'npm_s3cr3t-value' });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ name: 'NPM_TOKEN', updatedAt: expect.any(String) });
    expect(JSON.stringify(put.body)).not.toContain('npm_s3cr3t');
    await call('PUT', `/api/projects/${id}/secrets/DEPLOY_KEY`, { value: 'line one\nline two' });

    const list = await call('GET', `/api/projects/${id}/secrets`);
    expect(list.body.items.map((i: { name: string }) => i.name)).toEqual(['DEPLOY_KEY', 'NPM_TOKEN']);
    expect(JSON.stringify(list.body)).not.toMatch(/s3cr3t|line one|enc:v1/);

    // at rest: the events hold ciphertext that decrypts with KILN_SECRET_KEY, never the plaintext
    const loaded = await api.store.load(aggs.project, names.subjects.project(id));
    const raw = JSON.stringify(loaded.events);
    expect(raw).not.toContain('npm_s3cr3t');
    expect(loaded.events.map((e) => e.type)).toEqual(['ProjectCreated', 'ProjectSecretSet', 'ProjectSecretSet']);
    const state = loaded.state.status === 'active' ? loaded.state : null;
    expect(decryptSecret(key, state!.secrets!.NPM_TOKEN.value)).toBe('npm_s3cr3t-value');
    expect(decryptSecret(key, state!.secrets!.DEPLOY_KEY.value)).toBe('line one\nline two');

    await call('PUT', `/api/projects/${id}/secrets/NPM_TOKEN`, { value: 'rotated-value' });
    const rotated = await api.store.load(aggs.project, names.subjects.project(id));
    expect(decryptSecret(key, (rotated.state as { secrets: Record<string, { value: string }> }).secrets.NPM_TOKEN.value)).toBe('rotated-value');

    expect((await call('DELETE', `/api/projects/${id}/secrets/NPM_TOKEN`)).status).toBe(204);
    expect((await call('GET', `/api/projects/${id}/secrets`)).body.items.map((i: { name: string }) => i.name)).toEqual(['DEPLOY_KEY']);
    expect(await call('DELETE', `/api/projects/${id}/secrets/NPM_TOKEN`)).toMatchObject({ status: 404, body: { error: 'not_found' } });
  });

  it('validates names and values and answers 404 for an unknown project', async () => {
    const id = await newProject();
    expect(await call('PUT', `/api/projects/${id}/secrets/1BAD`, { value: 'long enough' })).toMatchObject({ status: 400, body: { error: 'invalid' } });
    expect(await call('PUT', `/api/projects/${id}/secrets/KILN_TOKEN`, { value: 'long enough' })).toMatchObject({ status: 400, body: { message: expect.stringMatching(/reserved/) } });
    expect(await call('PUT', `/api/projects/${id}/secrets/SHORT`, { value: 'abc' })).toMatchObject({ status: 400, body: { message: expect.stringMatching(/value: at least 4 characters/) } });
    expect(await call('PUT', `/api/projects/${id}/secrets/NOVALUE`, {})).toMatchObject({ status: 400, body: { message: expect.stringMatching(/value/) } });
    expect(await call('PUT', `/api/projects/${id}/secrets/NUM`, { value: 12345 })).toMatchObject({ status: 400 });
    expect(await call('PUT', '/api/projects/no-such-project/secrets/A_B', { value: 'long enough' })).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect(await call('GET', '/api/projects/no-such-project/secrets')).toMatchObject({ status: 404 });
    expect(await call('GET', '/api/projects/not.a.token/secrets')).toMatchObject({ status: 404 });
    expect(await call('GET', `/api/projects/${id}/secrets`, undefined, false)).toMatchObject({ status: 401 });
  });
});
