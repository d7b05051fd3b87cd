import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import { AddressInfo } from 'node:net';
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import webhookDefinitions from '@octokit/webhooks-examples';
import { KilnNames, kilnNames, ProjectCreatedV1 } from '@kiln/contracts';
import { encryptSecret } from '@kiln/config';
import { Aggregates, aggregates, connectNats, createAggregate, deleteStreams, EventStore } from '@kiln/event-store';
import { MAX_BODY_BYTES, useBodyParser } from '@kiln/service-kit';
import { testNamespace, testNatsUrl } from '@kiln/testing';
import { z } from 'zod';
import { AppModule } from '../app.module';
import gitlabPushHookFixture from './fixtures/gitlab-push-hook.json';
import { signGithubBody } from './github-signature';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- webhook payloads are arbitrary JSON
type Json = Record<string, any>;
type ProjectData = z.infer<typeof ProjectCreatedV1.schema>;

interface Reply {
  status: number;
  body: Json;
}

const SECRET = 'the-secret';

/** Real payloads GitHub sends (api.github.com), deep-copied so a test may change its own. */
function githubExample(name: string, pick: (e: Json) => boolean): Json {
  const definition = webhookDefinitions.find((d) => d.name === name);
  const example = (definition?.examples as Json[] | undefined)?.find(pick);
  if (!example) throw new Error(`@octokit/webhooks-examples has no matching "${name}" example`);
  return structuredClone(example);
}

/** GitLab's documented `Push Hook` body (fixtures/gitlab-push-hook.json), deep-copied. */
function gitlabPushHook(): Json {
  return structuredClone(gitlabPushHookFixture) as Json;
}

/**
 * The same payload, for another repository: every occurrence of `from` (an `owner/name`) in it
 * becomes `to`. Each test owns its repository, so a push never matches another test's project.
 */
function movedTo(payload: Json, from: string, to: string): Json {
  return JSON.parse(JSON.stringify(payload).split(from).join(to)) as Json;
}

const branchPush = () => githubExample('push', (e) => e.ref === 'refs/heads/master' && e.head_commit !== null && !e.deleted);
const tagDeletion = () => githubExample('push', (e) => e.ref.startsWith('refs/tags/') && e.deleted === true);
const repoPing = () => githubExample('ping', (e) => e.hook?.type === 'Repository' && e.repository !== undefined);
const issueEdited = () => githubExample('issues', (e) => e.repository?.full_name === 'Codertocat/Hello-World');

describe('ingest webhooks over HTTP on real JetStream', () => {
  const savedEnv = { ...process.env };
  const namespace = testNamespace('ing');
  let names: KilnNames;
  let app: INestApplication;
  let store: EventStore;
  let aggs: Aggregates;
  let baseUrl: string;
  let repos = 0;
  let projectCount = 0;

  beforeAll(async () => {
    process.env.NATS_URL = testNatsUrl();
    process.env.KILN_NAMESPACE = namespace;
    process.env.KILN_SECRET_KEY = `ingest-int-spec-${randomBytes(8).toString('hex')}`;
    process.env.KILN_LOG_LEVEL = 'warn';
    app = await NestFactory.create(AppModule, { bodyParser: false, logger: false });
    useBodyParser(app, '/webhooks', 'raw');
    await app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    store = app.get(EventStore);
    names = kilnNames(namespace);
    aggs = aggregates(names);
  });

  afterAll(async () => {
    await app?.close();
    // the app drained its connection on close: clean up over a fresh one
    const nc = await connectNats(testNatsUrl(), 'ingest-int-spec-cleanup');
    await deleteStreams(await nc.jetstreamManager(), kilnNames(namespace));
    await nc.drain();
    process.env = savedEnv;
  });

  /** A repository no other test pushes to. */
  const newRepo = (prefix = 'repo') => `kiln-it/${prefix}-${++repos}`;

  /** Given: a project, created by appending `ProjectCreated` to its subject. */
  async function givenProject(
    over: Partial<Omit<ProjectData, 'webhookSecret'>> & { repoUrl: string; secret?: string; secretKey?: string },
  ): Promise<ProjectData> {
    const { secret = SECRET, secretKey = process.env.KILN_SECRET_KEY!, ...fields } = over;
    const projectId = `proj-${++projectCount}`;
    const data: ProjectData = {
      projectId,
      name: `project ${projectCount}`,
      provider: 'github',
      branches: null,
      concurrency: 2,
      createdAt: new Date().toISOString(),
      ...fields,
      webhookSecret: encryptSecret(secretKey, secret),
    };
    const { created } = await createAggregate(store, aggs.project, names.subjects.project(projectId), { type: 'CreateProject', data }, { correlationId: projectId });
    expect(created).toBe(true);
    return data;
  }

  async function post(path: string, body: string | Buffer, headers: Record<string, string | null>): Promise<Reply> {
    const sent: Record<string, string> = { 'content-type': 'application/json' };
    for (const [k, v] of Object.entries(headers)) if (v !== null) sent[k] = v;
    const res = await fetch(`${baseUrl}${path}`, { method: 'POST', body, headers: sent });
    const text = await res.text();
    let parsed: Json;
    try {
      parsed = JSON.parse(text) as Json;
    } catch {
      throw new Error(`${path} answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`);
    }
    return { status: res.status, body: parsed };
  }

  /** A GitHub delivery, signed with `secret` unless a `signature` (null: none) is given. */
  function github(
    event: string,
    payload: Json | string | Buffer,
    opts: { delivery?: string | null; secret?: string; signature?: string | null } = {},
  ): Promise<Reply> {
    const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
    return post('/webhooks/github', body, {
      'user-agent': 'GitHub-Hookshot/kiln-test',
      'x-github-event': event,
      'x-github-delivery': opts.delivery === undefined ? randomUUID() : opts.delivery,
      'x-hub-signature-256': opts.signature === undefined ? signGithubBody(opts.secret ?? SECRET, body) : opts.signature,
    });
  }

  /** A GitLab delivery; `token` null sends no `X-Gitlab-Token`. */
  function gitlab(payload: Json, opts: { token?: string | null; idempotencyKey?: string | null; event?: string } = {}): Promise<Reply> {
    return post('/webhooks/gitlab', JSON.stringify(payload), {
      'user-agent': 'GitLab/18.0.0',
      'x-gitlab-event': opts.event ?? 'Push Hook',
      'x-gitlab-token': opts.token === undefined ? SECRET : opts.token,
      'idempotency-key': opts.idempotencyKey === undefined ? randomUUID() : opts.idempotencyKey,
    });
  }

  /** Messages in the namespace's builds stream (every event of every build). */
  async function buildEventsInStream(): Promise<number> {
    return (await store.jsm.streams.info(names.streams.builds)).state.messages;
  }

  async function buildEvents(buildId: string) {
    return (await store.load(aggs.build, names.subjects.build(buildId))).events;
  }

  /** Runs `act` and returns how many events it added to the builds stream. */
  async function buildEventsAddedBy(act: () => Promise<unknown>): Promise<number> {
    const before = await buildEventsInStream();
    await act();
    return (await buildEventsInStream()) - before;
  }

  describe('POST /webhooks/github', () => {
    describe('a correctly signed push', () => {
      let project: ProjectData;
      const push = branchPush();

      beforeAll(async () => {
        project = await givenProject({ repoUrl: push.repository.clone_url, branches: ['master'] });
      });

      it('answers 202 with a build id and appends exactly one BuildRequested carrying the commit', async () => {
        const delivery = randomUUID();
        let reply!: Reply;

        const added = await buildEventsAddedBy(async () => (reply = await github('push', push, { delivery })));

        expect(reply.status).toBe(202);
        expect(reply.body).toMatchObject({ buildId: expect.any(String), duplicate: false });
        expect(reply.body.builds).toEqual([{ buildId: reply.body.buildId, projectId: project.projectId, duplicate: false }]);
        expect(added).toBe(1);
        const events = await buildEvents(reply.body.buildId);
        expect(events).toHaveLength(1);
        expect(events[0]).toMatchObject({
          type: 'BuildRequested',
          data: {
            buildId: reply.body.buildId,
            projectId: project.projectId,
            trigger: 'push',
            deliveryId: delivery,
            source: {
              repoUrl: project.repoUrl,
              ref: 'refs/heads/master',
              branch: 'master',
              sha: push.after,
              author: push.head_commit.author.name,
              message: push.head_commit.message,
            },
          },
          meta: { correlationId: reply.body.buildId, causationId: `github:${delivery}` },
        });
      });

      // Within the builds stream's 2-minute duplicate window: JetStream drops the repeated
      // Msg-Id itself, and the answer must still say duplicate.
      it('answers the same delivery again with the same build, marked duplicate, and appends nothing', async () => {
        const delivery = randomUUID();
        const first = await github('push', push, { delivery });
        expect(first.status).toBe(202);
        expect(first.body.duplicate).toBe(false);

        let again!: Reply;
        const added = await buildEventsAddedBy(async () => (again = await github('push', push, { delivery })));

        expect(again.status).toBe(202);
        expect(again.body).toMatchObject({ buildId: first.body.buildId, duplicate: true });
        expect(again.body.builds).toEqual([expect.objectContaining({ duplicate: true })]);
        expect(added).toBe(0);
        expect(await buildEvents(first.body.buildId)).toHaveLength(1);
      });

      it('turns another delivery of the same push into another build', async () => {
        const first = await github('push', push, { delivery: randomUUID() });

        const second = await github('push', push, { delivery: randomUUID() });

        expect(first.status).toBe(202);
        expect(second.status).toBe(202);
        expect(second.body).toMatchObject({ buildId: expect.any(String), duplicate: false });
        expect(second.body.buildId).not.toBe(first.body.buildId);
        expect(await buildEvents(first.body.buildId)).toHaveLength(1);
        expect(await buildEvents(second.body.buildId)).toHaveLength(1);
      });

      it.each([
        ['signed with another secret', () => ({ secret: 'not-the-secret' }), /does not match/],
        ['signed over another body', () => ({ signature: signGithubBody(SECRET, JSON.stringify({ ...push, after: 'f'.repeat(40) })) }), /does not match/],
        ['with a malformed signature header', () => ({ signature: 'sha256=nope' }), /does not match/],
        ['without an X-Hub-Signature-256 header', () => ({ signature: null }), /missing X-Hub-Signature-256/],
      ])('answers 401 JSON and appends nothing for a delivery %s', async (_label, opts, message) => {
        let reply!: Reply;

        const added = await buildEventsAddedBy(async () => (reply = await github('push', push, opts())));

        expect(reply.status).toBe(401);
        expect(reply.body).toEqual({ error: 'unauthorized', message: expect.stringMatching(message) });
        expect(added).toBe(0);
      });

      it('answers 400 naming the header when X-GitHub-Delivery is missing, and appends nothing', async () => {
        let reply!: Reply;

        const added = await buildEventsAddedBy(async () => (reply = await github('push', push, { delivery: null })));

        expect(reply.status).toBe(400);
        expect(reply.body).toEqual({ error: 'invalid', message: expect.stringContaining('X-GitHub-Delivery') });
        expect(added).toBe(0);
      });
    });

    it('answers 404 JSON for a repository no project has', async () => {
      const push = movedTo(branchPush(), 'Codertocat/Hello-World', newRepo('unknown'));

      const reply = await github('push', push);

      expect(reply.status).toBe(404);
      expect(reply.body).toEqual({ error: 'not_found', message: expect.stringContaining(push.repository.full_name) });
    });

    it('answers 400 JSON for a body that is not JSON', async () => {
      const reply = await github('push', '{"ref": "refs/heads/master", ');

      expect(reply.status).toBe(400);
      expect(reply.body).toEqual({ error: 'invalid', message: expect.stringMatching(/malformed JSON/) });
    });

    it('answers 400 JSON for an empty body', async () => {
      const reply = await github('push', '');

      expect(reply.status).toBe(400);
      expect(reply.body).toEqual({ error: 'invalid', message: expect.stringMatching(/empty/) });
    });

    it('finds the project by the repository name of a push lacking clone_url, then answers 400 naming the field', async () => {
      const repo = newRepo();
      await givenProject({ repoUrl: `https://github.com/${repo}.git` });
      const push = movedTo(branchPush(), 'Codertocat/Hello-World', repo);
      delete push.repository.clone_url;
      let reply!: Reply;

      const added = await buildEventsAddedBy(async () => (reply = await github('push', push)));

      expect(reply.status).toBe(400);
      expect(reply.body).toEqual({ error: 'invalid', message: expect.stringContaining('repository.clone_url') });
      expect(added).toBe(0);
    });

    it('answers 413 JSON for a body over 5 MiB, and accepts one of exactly 5 MiB', async () => {
      const repo = newRepo();
      await givenProject({ repoUrl: `https://github.com/${repo}.git` });
      const push = movedTo(branchPush(), 'Codertocat/Hello-World', repo);
      const padded = (size: number) => {
        const base = JSON.stringify({ ...push, padding: '' });
        return JSON.stringify({ ...push, padding: 'x'.repeat(size - Buffer.byteLength(base)) });
      };
      const atLimit = padded(MAX_BODY_BYTES);
      const overLimit = padded(MAX_BODY_BYTES + 1);
      expect(Buffer.byteLength(atLimit)).toBe(5 * 1024 * 1024);

      const over = await github('push', overLimit);
      const at = await github('push', atLimit);

      expect(over.status).toBe(413);
      expect(over.body).toEqual({ error: 'payload_too_large', message: expect.any(String) });
      expect(at.status).toBe(202);
      expect(at.body.buildId).toEqual(expect.any(String));
    });

    it('answers a ping with 200 and appends nothing', async () => {
      const ping = repoPing();
      await givenProject({ repoUrl: ping.repository.clone_url });
      let reply!: Reply;

      const added = await buildEventsAddedBy(async () => (reply = await github('ping', ping)));

      expect(reply.status).toBe(200);
      expect(reply.body).toEqual({ ok: true, ping: true, zen: ping.zen });
      expect(added).toBe(0);
    });

    it('answers an event it does not handle (issues) with 202 ignored and appends nothing', async () => {
      const repo = newRepo();
      await givenProject({ repoUrl: `https://github.com/${repo}.git` });
      const issue = movedTo(issueEdited(), 'Codertocat/Hello-World', repo);
      let reply!: Reply;

      const added = await buildEventsAddedBy(async () => (reply = await github('issues', issue)));

      expect(reply.status).toBe(202);
      expect(reply.body).toEqual({ ignored: true, reason: expect.stringContaining('issues') });
      expect(added).toBe(0);
    });

    it("answers a push to a branch outside the project's branches with 202 ignored and appends nothing", async () => {
      const repo = newRepo();
      await givenProject({ repoUrl: `https://github.com/${repo}.git`, branches: ['main', 'release/*'] });
      const push = movedTo(branchPush(), 'Codertocat/Hello-World', repo);
      let reply!: Reply;

      const added = await buildEventsAddedBy(async () => (reply = await github('push', push)));

      expect(reply.status).toBe(202);
      expect(reply.body).toEqual({ ignored: true, reason: expect.stringContaining('refs/heads/master') });
      expect(added).toBe(0);
    });

    it.each([
      ['a deleted tag (the example as sent)', null, null],
      ['a deleted branch the project builds', 'refs/heads/master', ['master']],
    ])('answers a push of %s with 202 ignored and requests no build', async (_label, ref, branches) => {
      const repo = newRepo();
      await givenProject({ repoUrl: `https://github.com/${repo}.git`, branches });
      const deletion = movedTo(tagDeletion(), 'Codertocat/Hello-World', repo);
      if (ref) deletion.ref = ref;
      let reply!: Reply;

      const added = await buildEventsAddedBy(async () => (reply = await github('push', deletion)));

      expect(reply.status).toBe(202);
      expect(reply.body).toEqual({ ignored: true, reason: expect.stringContaining('deleted') });
      expect(added).toBe(0);
    });

    it('finds a project created after ingest started on its very first push', async () => {
      for (let i = 0; i < 5; i++) {
        const repo = newRepo('late');
        const project = await givenProject({ repoUrl: `https://github.com/${repo}.git` });

        const reply = await github('push', movedTo(branchPush(), 'Codertocat/Hello-World', repo));

        expect(reply.status).toBe(202);
        expect(reply.body.builds).toEqual([{ buildId: expect.any(String), projectId: project.projectId, duplicate: false }]);
      }
    });

    describe('several projects on one repository', () => {
      it('requests a build only for the projects whose secret signed the delivery', async () => {
        const repo = newRepo('shared');
        const repoUrl = `https://github.com/${repo}.git`;
        const a = await givenProject({ repoUrl, secret: 'secret-of-a' });
        const b = await givenProject({ repoUrl, secret: 'secret-of-b' });
        const c = await givenProject({ repoUrl, secret: 'secret-of-a' });
        let reply!: Reply;

        const added = await buildEventsAddedBy(async () => (reply = await github('push', movedTo(branchPush(), 'Codertocat/Hello-World', repo), { secret: 'secret-of-a' })));

        expect(reply.status).toBe(202);
        expect(reply.body.builds.map((x: Json) => x.projectId).sort()).toEqual([a.projectId, c.projectId].sort());
        expect(reply.body.builds.map((x: Json) => x.projectId)).not.toContain(b.projectId);
        expect(added).toBe(2);
      });

      // BUG (reported): one project whose stored secret cannot be decrypted (written under another
      // KILN_SECRET_KEY) makes every delivery for its repository a 500, also those signed for a
      // healthy project: webhooks.controller.ts secretOf() lets decryptSecret's error escape the
      // candidates.filter(). Flip to `it` once fixed.
      it('still serves a healthy project when another one of the repository has an undecryptable secret', async () => {
        const repo = newRepo('shared');
        const repoUrl = `https://github.com/${repo}.git`;
        const healthy = await givenProject({ repoUrl });
        await givenProject({ repoUrl, secretKey: 'a-key-rotated-away' });

        const reply = await github('push', movedTo(branchPush(), 'Codertocat/Hello-World', repo));

        expect(reply.status).toBe(202);
        expect(reply.body.builds).toEqual([{ buildId: expect.any(String), projectId: healthy.projectId, duplicate: false }]);
      });
    });

    it('does not answer for a GitLab project of the same repository', async () => {
      const repo = newRepo();
      await givenProject({ repoUrl: `https://github.com/${repo}.git`, provider: 'gitlab' });

      const reply = await github('push', movedTo(branchPush(), 'Codertocat/Hello-World', repo));

      expect(reply.status).toBe(404);
    });
  });

  describe('POST /webhooks/gitlab', () => {
    /** Given a GitLab project on its own repository, and the documented push moved there. */
    async function givenGitlabProject(branches: string[] | null = ['main']) {
      const repo = newRepo('gl');
      const push = movedTo(gitlabPushHook(), 'mike/diaspora', repo);
      const project = await givenProject({ repoUrl: push.project.git_http_url, provider: 'gitlab', branches });
      return { project, push };
    }

    it('answers a Push Hook with the right token with 202 and one BuildRequested carrying the commit', async () => {
      const { project, push } = await givenGitlabProject();
      const key = randomUUID();
      let reply!: Reply;

      const added = await buildEventsAddedBy(async () => (reply = await gitlab(push, { idempotencyKey: key })));

      expect(reply.status).toBe(202);
      expect(reply.body).toMatchObject({ buildId: expect.any(String), duplicate: false });
      expect(added).toBe(1);
      const events = await buildEvents(reply.body.buildId);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        type: 'BuildRequested',
        data: {
          projectId: project.projectId,
          trigger: 'push',
          deliveryId: key,
          source: {
            repoUrl: project.repoUrl,
            ref: 'refs/heads/main',
            branch: 'main',
            sha: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
            author: 'GitLab dev user',
            message: 'fixed readme',
          },
        },
      });
    });

    it.each([
      ['a wrong token', 'not-the-secret', /does not match/],
      ['no token', null, /missing X-Gitlab-Token/],
    ])('answers 401 JSON and appends nothing with %s', async (_label, token, message) => {
      const { push } = await givenGitlabProject();
      let reply!: Reply;

      const added = await buildEventsAddedBy(async () => (reply = await gitlab(push, { token })));

      expect(reply.status).toBe(401);
      expect(reply.body).toEqual({ error: 'unauthorized', message: expect.stringMatching(message) });
      expect(added).toBe(0);
    });

    it('answers the same Idempotency-Key again with the same build, marked duplicate, and appends nothing', async () => {
      const { push } = await givenGitlabProject();
      const key = randomUUID();
      const first = await gitlab(push, { idempotencyKey: key });
      expect(first.status).toBe(202);
      expect(first.body.duplicate).toBe(false);

      let again!: Reply;
      const added = await buildEventsAddedBy(async () => (again = await gitlab(push, { idempotencyKey: key })));

      expect(again.status).toBe(202);
      expect(again.body).toMatchObject({ buildId: first.body.buildId, duplicate: true });
      expect(added).toBe(0);
      expect(await buildEvents(first.body.buildId)).toHaveLength(1);
    });

    it('turns another Idempotency-Key into another build', async () => {
      const { push } = await givenGitlabProject();

      const first = await gitlab(push, { idempotencyKey: randomUUID() });
      const second = await gitlab(push, { idempotencyKey: randomUUID() });

      expect([first.status, second.status]).toEqual([202, 202]);
      expect(second.body.buildId).not.toBe(first.body.buildId);
    });

    it('answers 400 naming the headers when a push has no delivery id at all', async () => {
      const { push } = await givenGitlabProject();

      const reply = await gitlab(push, { idempotencyKey: null });

      expect(reply.status).toBe(400);
      expect(reply.body).toEqual({ error: 'invalid', message: expect.stringContaining('Idempotency-Key') });
    });

    it('answers an event it does not handle (Merge Request Hook) with 202 ignored', async () => {
      const { push } = await givenGitlabProject();

      const added = await buildEventsAddedBy(async () => {
        const reply = await gitlab(push, { event: 'Merge Request Hook' });
        expect(reply.status).toBe(202);
        expect(reply.body).toMatchObject({ ignored: true });
      });

      expect(added).toBe(0);
    });
  });

  describe('rotated webhook secrets and deleted projects', () => {
    /** Rotates the project's secret the way the API does (its own event, encrypted). */
    async function rotate(project: ProjectData, secret: string, graceMs: number): Promise<void> {
      await store.handle(
        aggs.project,
        names.subjects.project(project.projectId),
        { type: 'RotateWebhookSecret', projectId: project.projectId, webhookSecret: encryptSecret(process.env.KILN_SECRET_KEY!, secret), graceMs, now: new Date().toISOString() },
        { correlationId: project.projectId },
      );
    }

    function githubProjectPush() {
      const repo = newRepo('rot');
      const push = movedTo(branchPush(), 'Codertocat/Hello-World', repo);
      return { push, project: givenProject({ repoUrl: push.repository.clone_url }) };
    }

    it('GitHub: after a rotation without grace the old secret is refused (401, nothing appended) and the new one accepted', async () => {
      const { push, project: p } = githubProjectPush();
      const project = await p;
      expect((await github('push', push, { secret: SECRET })).status).toBe(202);

      await rotate(project, 'the-rotated-secret', 0);

      const added = await buildEventsAddedBy(async () => {
        const old = await github('push', push, { secret: SECRET });
        expect(old.status).toBe(401);
        expect(old.body).toEqual({ error: 'unauthorized', message: expect.stringContaining('does not match') });
      });
      expect(added).toBe(0);
      const fresh = await github('push', push, { secret: 'the-rotated-secret' });
      expect(fresh.status).toBe(202);
      expect(fresh.body.builds).toEqual([expect.objectContaining({ projectId: project.projectId, duplicate: false })]);
    });

    it('GitHub: during the grace period both secrets are accepted; the next rotation ends the grace of the first', async () => {
      const { push, project: p } = githubProjectPush();
      const project = await p;
      await rotate(project, 'second-secret', 3_600_000);

      expect((await github('push', push, { secret: SECRET })).status).toBe(202);
      expect((await github('push', push, { secret: 'second-secret' })).status).toBe(202);
      expect((await github('push', push, { secret: 'never-this-one' })).status).toBe(401);

      await rotate(project, 'third-secret', 0);
      expect((await github('push', push, { secret: SECRET })).status).toBe(401);
      expect((await github('push', push, { secret: 'second-secret' })).status).toBe(401);
      expect((await github('push', push, { secret: 'third-secret' })).status).toBe(202);
    });

    it('GitLab: the old token is accepted during the grace period and refused without one', async () => {
      const repo = newRepo('glrot');
      const push = movedTo(gitlabPushHook(), 'mike/diaspora', repo);
      const project = await givenProject({ repoUrl: push.project.git_http_url, provider: 'gitlab', branches: null });

      await rotate(project, 'gitlab-second', 3_600_000);
      expect((await gitlab(push, { token: SECRET })).status).toBe(202);
      expect((await gitlab(push, { token: 'gitlab-second' })).status).toBe(202);

      await rotate(project, 'gitlab-third', 0);
      const old = await gitlab(push, { token: 'gitlab-second' });
      expect(old.status).toBe(401);
      expect(old.body.message).toMatch(/X-Gitlab-Token does not match/);
      expect((await gitlab(push, { token: 'gitlab-third' })).status).toBe(202);
    });

    it('answers 404 saying the project was deleted, for a correctly signed push, and appends nothing', async () => {
      const { push, project: p } = githubProjectPush();
      const project = await p;
      expect((await github('push', push)).status).toBe(202);

      await store.handle(aggs.project, names.subjects.project(project.projectId), { type: 'DeleteProject', projectId: project.projectId, now: new Date().toISOString() }, { correlationId: project.projectId });

      const added = await buildEventsAddedBy(async () => {
        const reply = await github('push', push);
        expect(reply.status).toBe(404);
        expect(reply.body).toEqual({ error: 'not_found', message: expect.stringMatching(new RegExp(`was deleted: ${project.projectId} \\(deleted .+\\); remove this webhook`)) });
      });
      expect(added).toBe(0);
    });
  });
});
