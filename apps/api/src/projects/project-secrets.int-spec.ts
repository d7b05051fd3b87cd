import 'reflect-metadata';
import { AddressInfo } from 'node:net';
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NatsConnection } from 'nats';
import { DataSource } from 'typeorm';
import { kilnNames } from '@kiln/contracts';
import { decryptSecret } from '@kiln/config';
import { aggregates, connectNats, deleteStreams, EventStore } from '@kiln/event-store';
import { dropSchema } from '@kiln/persistence';
import { useBodyParser } from '@kiln/service-kit';
import { testDatabaseUrl, testNamespace, testNatsUrl } from '@kiln/testing';
import { AppModule } from '../app.module';
import { READ_DB } from '../read-model/read-db';

describe('project secrets API on real NATS and PostgreSQL', () => {
  const names = kilnNames(testNamespace('sec'));
  const aggs = aggregates(names);
  const token = 'secrets-test-token';
  const key = 'secrets-test-key';
  let app: INestApplication;
  let nc: NatsConnection;
  let store: EventStore;
  let base: string;
  const saved = { ...process.env };

  const call = async (method: string, path: string, body?: unknown, auth = true) => {
    const res = await fetch(base + path, {
      method,
      headers: { ...(auth ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };

  beforeAll(async () => {
    Object.assign(process.env, {
      NATS_URL: testNatsUrl(),
      DATABASE_URL: testDatabaseUrl(),
      KILN_NAMESPACE: names.namespace,
      KILN_ADMIN_TOKEN: token,
      KILN_SECRET_KEY: key,
    });
    app = await NestFactory.create(AppModule, { logger: false, bodyParser: false });
    useBodyParser(app, '/api', 'json');
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    nc = await connectNats(testNatsUrl(), 'project-secrets-test');
    store = await EventStore.create(nc, names);
  });

  afterAll(async () => {
    const ds = app.get<DataSource>(READ_DB);
    await app.close();
    await ds.destroy().catch(() => undefined);
    await deleteStreams(store.jsm, names);
    await nc.drain();
    await dropSchema(testDatabaseUrl(), names.namespace).catch(() => undefined);
    process.env = saved;
  });

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
    const loaded = await store.load(aggs.project, names.subjects.project(id));
    const raw = JSON.stringify(loaded.events);
    expect(raw).not.toContain('npm_s3cr3t');
    expect(loaded.events.map((e) => e.type)).toEqual(['ProjectCreated', 'ProjectSecretSet', 'ProjectSecretSet']);
    const state = loaded.state.status === 'active' ? loaded.state : null;
    expect(decryptSecret(key, state!.secrets!.NPM_TOKEN.value)).toBe('npm_s3cr3t-value');
    expect(decryptSecret(key, state!.secrets!.DEPLOY_KEY.value)).toBe('line one\nline two');

    await call('PUT', `/api/projects/${id}/secrets/NPM_TOKEN`, { value: 'rotated-value' });
    const rotated = await store.load(aggs.project, names.subjects.project(id));
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
