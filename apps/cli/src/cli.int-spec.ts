import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { FakeKilnApi } from '../test/fake-kiln-api';
import { MemoryIo } from '../test/memory-io';
import { runCli } from './cli';
import type { FollowTimings } from './commands/follow-build';
import { stripAnsi } from './format/ansi';

/** A port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => res(port));
    });
  });
}

/**
 * The CLI against a real HTTP server that speaks the Kiln API (routes, error shape, SSE
 * framing) — including a log stream that drops the connection in the middle of an event.
 */
describe('kiln CLI against an HTTP fake of the Kiln API', () => {
  const api = new FakeKilnApi();
  let tmp: string;
  let configFile: string;
  const FAST: Partial<FollowTimings> = { waitingPollMs: 30, runningPollMs: 60, endGraceMs: 150, reconnectBackoffMs: () => 20 };

  beforeAll(async () => {
    await api.start();
  });
  afterAll(() => api.stop());
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'kiln-cli-'));
    configFile = join(tmp, 'config', 'kiln.json');
    api.requests.length = 0;
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  /** Runs `kiln <args>` in-process; by default logged in through KILN_URL/KILN_TOKEN. */
  async function kiln(args: string[], opts: { env?: Record<string, string | undefined>; stderrTTY?: boolean; stdin?: string } = {}) {
    const io = new MemoryIo({ KILN_CONFIG: configFile, KILN_URL: api.url, KILN_TOKEN: api.token, ...opts.env }, tmp);
    io.stderrIsTTY = opts.stderrTTY ?? false;
    io.stdin = opts.stdin ?? '';
    const code = await runCli(args, io, { timings: FAST });
    return { code, out: io.out, err: io.err, lines: io.lines };
  }
  const loggedOut = { KILN_URL: undefined, KILN_TOKEN: undefined };

  describe('login', () => {
    it('refuses a wrong token (exit 1, the API error shown) and saves nothing', async () => {
      const r = await kiln(['login', '--url', api.url, '--token', 'wrong'], { env: loggedOut });
      expect(r.code).toBe(1);
      expect(r.err).toContain('missing or invalid bearer token (unauthorized, HTTP 401)');
      expect(existsSync(configFile)).toBe(false);
    });

    it('verifies with GET /api/projects, saves url and token with mode 0600, and later commands use them', async () => {
      api.addProject({ name: 'login-check' });
      const r = await kiln(['login', '--url', `${api.url}/api/`, '--token', api.token], { env: loggedOut });
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/Logged in to http:\/\/127\.0\.0\.1:\d+ \(\d+ projects?\); saved to /);
      expect(api.requests.map((q) => `${q.method} ${q.path}`)).toEqual(['GET /api/projects']);
      expect(JSON.parse(readFileSync(configFile, 'utf8'))).toEqual({ url: api.url, token: api.token });
      expect(statSync(configFile).mode & 0o777).toBe(0o600);

      const ls = await kiln(['projects', 'ls'], { env: loggedOut });
      expect(ls.code).toBe(0);
      expect(ls.out).toContain('login-check');
    });

    it('reads the token from stdin with --token -', async () => {
      const r = await kiln(['login', '--url', api.url, '--token', '-', '--json'], { env: loggedOut, stdin: `${api.token}\n` });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out)).toMatchObject({ url: api.url, config: configFile });
    });

    it('KILN_TOKEN overrides the saved login, and --token overrides KILN_TOKEN', async () => {
      await kiln(['login', '--url', api.url, '--token', api.token], { env: loggedOut });
      const envWins = await kiln(['projects', 'ls'], { env: { KILN_URL: undefined, KILN_TOKEN: 'stale' } });
      expect(envWins.code).toBe(1);
      expect(envWins.err).toContain('HTTP 401');
      const flagWins = await kiln(['projects', 'ls', '--token', api.token], { env: { KILN_URL: undefined, KILN_TOKEN: 'stale' } });
      expect(flagWins.code).toBe(0);
    });

    it('without any login a command is a usage error pointing at kiln login', async () => {
      const r = await kiln(['projects', 'ls'], { env: loggedOut });
      expect(r.code).toBe(2);
      expect(r.err).toContain('not logged in: run `kiln login');
    });

    it('an unreachable server is exit 1 with the reason', async () => {
      const closed = await closedPort();
      const r = await kiln(['projects', 'ls', '--url', `http://127.0.0.1:${closed}`]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(new RegExp(`cannot reach Kiln at http://127\\.0\\.0\\.1:${closed}: ECONNREFUSED`));
    });
  });

  describe('projects', () => {
    it('create sends the project and prints the webhook URL and secret to paste', async () => {
      const r = await kiln(['projects', 'create', '--name', 'web', '--repo', 'https://github.com/acme/web.git', '--provider', 'github', '--secret', 's3cret-value', '--branch', 'main', '--branch', 'release/*', '--concurrency', '3']);
      expect(r.code).toBe(0);
      const sent = api.requests.find((q) => q.method === 'POST')!.body;
      expect(sent).toEqual({ name: 'web', repoUrl: 'https://github.com/acme/web.git', provider: 'github', webhookSecret: 's3cret-value', branches: ['main', 'release/*'], concurrency: 3 });
      expect(r.out).toContain('Created project web');
      expect(r.out).toMatch(/Payload URL\s+http:\/\/127\.0\.0\.1:\d+\/webhooks\/github/);
      expect(r.out).toMatch(/Secret\s+s3cret-value/);
      expect(r.out).toMatch(/Content type\s+application\/json/);
    });

    it('create generates a strong secret when none is given; --json prints the API answer', async () => {
      const r = await kiln(['projects', 'create', '--name', 'lab', '--repo', 'https://gitlab.com/acme/lab.git', '--provider', 'gitlab', '--json']);
      expect(r.code).toBe(0);
      const out = JSON.parse(r.out);
      expect(out.webhook.url).toMatch(/\/webhooks\/gitlab$/);
      expect(out.webhook.secret).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect((api.requests.find((q) => q.method === 'POST')!.body as { webhookSecret: string }).webhookSecret).toBe(out.webhook.secret);
    });

    it('create: missing or bad options are usage errors (exit 2) and nothing is sent', async () => {
      const missing = await kiln(['projects', 'create', '--name', 'x']);
      expect(missing.code).toBe(2);
      expect(missing.err).toContain('missing --repo, --provider');
      const bad = await kiln(['projects', 'create', '--name', 'x', '--repo', 'r', '--provider', 'bitbucket']);
      expect(bad.code).toBe(2);
      expect(bad.err).toContain('--provider must be one of github, gitlab');
      const unknown = await kiln(['projects', 'create', '--nme', 'x']);
      expect(unknown.code).toBe(2);
      expect(unknown.err).toContain("Unknown option '--nme'");
      expect(api.requests).toEqual([]);
    });

    it('create: a 400 from the API prints its message and field details (exit 1)', async () => {
      const r = await kiln(['projects', 'create', '--name', 'x', '--repo', 'r', '--provider', 'github', '--secret', 'short']);
      expect(r.code).toBe(1);
      expect(r.err).toBe('kiln: invalid request body: webhookSecret: at least 8 characters (invalid, HTTP 400)\n  - webhookSecret: at least 8 characters\n');
      const j = await kiln(['projects', 'create', '--name', 'x', '--repo', 'r', '--provider', 'github', '--secret', 'short', '--json']);
      expect(JSON.parse(j.err)).toEqual({ status: 400, error: 'invalid', message: 'invalid request body: webhookSecret: at least 8 characters', details: [{ path: 'webhookSecret', message: 'at least 8 characters' }] });
    });

    it('ls prints a table; --json the API answer', async () => {
      api.addProject({ name: 'table-me', branches: ['main'], concurrency: 4 });
      const r = await kiln(['projects', 'ls']);
      expect(r.lines[0]).toMatch(/^ID\s+NAME\s+PROVIDER\s+BRANCHES\s+CONCURRENCY\s+REPOSITORY$/);
      expect(r.out).toMatch(/table-me\s+github\s+main\s+4\s+https:\/\/git\.example\/table-me\.git/);
      const j = await kiln(['projects', 'ls', '--json']);
      expect(JSON.parse(j.out).items.map((p: { name: string }) => p.name)).toContain('table-me');
    });

    it('delete needs --yes (exit 2, nothing deleted), then deletes the project named by name', async () => {
      const p = api.addProject({ name: 'doomed' });
      const unconfirmed = await kiln(['projects', 'delete', 'doomed']);
      expect(unconfirmed.code).toBe(2);
      expect(unconfirmed.err).toContain(`deleting project doomed (${p.id}) cannot be undone`);
      expect(api.requests.filter((q) => q.method === 'DELETE')).toEqual([]);

      const r = await kiln(['projects', 'delete', 'doomed', '--yes']);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`Deleted project doomed (${p.id})`);
      expect(api.requests.filter((q) => q.method === 'DELETE').map((q) => q.path)).toEqual([`/api/projects/${p.id}`]);
      expect(api.projects.map((x) => x.id)).not.toContain(p.id);
    });

    it('delete of an unknown project is exit 1; --json prints { id, deleted }', async () => {
      const gone = await kiln(['projects', 'rm', 'no-such-project', '--yes']);
      expect(gone.code).toBe(1);
      expect(gone.err).toContain('no project with id or name "no-such-project"');
      const p = api.addProject({ name: 'json-doomed' });
      const j = await kiln(['projects', 'delete', p.id, '--yes', '--json']);
      expect(j.code).toBe(0);
      expect(JSON.parse(j.out)).toEqual({ id: p.id, deleted: true });
    });

    it('rotate-secret sends the given secret and grace, and prints the new secret to paste', async () => {
      const p = api.addProject({ name: 'rot', provider: 'gitlab' });
      const r = await kiln(['projects', 'rotate-secret', 'rot', '--secret', 'brand-new-secret', '--grace', '0']);
      expect(r.code).toBe(0);
      const sent = api.requests.find((q) => q.method === 'POST')!;
      expect(sent.path).toBe(`/api/projects/${p.id}/webhook-secret/rotate`);
      expect(sent.body).toEqual({ secret: 'brand-new-secret', graceSeconds: 0 });
      expect(r.out).toMatch(/Secret token\s+brand-new-secret/);
      expect(r.out).toContain('The old secret is no longer accepted');

      const g = await kiln(['projects', 'rotate-secret', 'rot', '--json']);
      expect(JSON.parse(g.out)).toMatchObject({ id: p.id, previousSecretValidUntil: expect.any(String), webhook: { secret: 'generated-secret-0123456789abcdef' } });
      expect(api.requests.filter((q) => q.method === 'POST').pop()!.body).toEqual({});
      const bad = await kiln(['projects', 'rotate-secret', 'rot', '--grace', 'soon']);
      expect(bad.code).toBe(2);
      expect(bad.err).toContain('--grace must be a whole number');
    });
  });

  describe('builds', () => {
    it('build trigger (project by name) posts ref and sha and prints the build id', async () => {
      const p = api.addProject({ name: 'trig' });
      const r = await kiln(['build', 'trigger', 'trig', '--ref', 'develop', '--sha', 'abc1234']);
      expect(r.code).toBe(0);
      const post = api.requests.find((q) => q.method === 'POST')!;
      expect(post.path).toBe(`/api/projects/${p.id}/builds`);
      expect(post.body).toEqual({ ref: 'develop', sha: 'abc1234' });
      expect(r.lines).toHaveLength(1);
      expect(api.builds.has(r.lines[0])).toBe(true);
      expect(r.err).toContain(`kiln logs -f ${r.lines[0]}`);
    });

    it('build trigger: an unknown project is exit 1; a bad --sha exit 2', async () => {
      const unknown = await kiln(['build', 'trigger', 'nope']);
      expect(unknown.code).toBe(1);
      expect(unknown.err).toContain('no project with id or name "nope"');
      const sha = await kiln(['build', 'trigger', 'trig', '--sha', 'xyz']);
      expect(sha.code).toBe(2);
    });

    it('build trigger --follow: spinner while queued (stderr is a terminal), then the log; exit code of the result', async () => {
      api.addProject({ name: 'follow-me' });
      api.onTrigger = (b) => {
        setTimeout(() => api.update(b.id, { status: 'assigned', workerId: 'w-1' }), 100);
        setTimeout(() => {
          api.update(b.id, { status: 'running', startedAt: new Date().toISOString() });
          api.appendLog(b.id, [['system', 'kiln: step 1/1 "test"', 0], ['stdout', 'all good', 0]]);
        }, 250);
        setTimeout(() => {
          api.update(b.id, { status: 'failed', exitCode: 2, finishedAt: new Date().toISOString() });
          api.appendLog(b.id, [['system', 'build failed: step "test" exited with 2']]);
          api.endLog(b.id, 'failed');
        }, 350);
      };
      try {
        const r = await kiln(['build', 'trigger', 'follow-me', '--follow'], { stderrTTY: true });
        expect(r.code).toBe(1);
        expect(r.lines.slice(1)).toEqual(['kiln: step 1/1 "test"', 'all good', 'build failed: step "test" exited with 2']);
        expect(r.err).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] build [0-9a-f]{8} queued, waiting for a worker/);
        expect(r.err).toContain('\r\x1b[K'); // the spinner erased its line
        expect(stripAnsi(r.err)).toMatch(/✗ build [0-9a-f]{8} failed \(exit 2\)/);
      } finally {
        api.onTrigger = undefined;
      }
    });

    it('no spinner when stderr is not a terminal', async () => {
      const p = api.addProject({ name: 'quiet' });
      const b = api.addBuild(p.id, { status: 'queued' });
      setTimeout(() => {
        api.appendLog(b.id, [['stdout', 'hi']]);
        api.endLog(b.id, 'succeeded');
        api.update(b.id, { status: 'succeeded' });
      }, 150);
      const r = await kiln(['logs', '-f', b.id]);
      expect(r.code).toBe(0);
      expect(r.err).not.toMatch(/waiting for a worker/);
    });

    it('builds ls: a table (short id, status, branch, short sha, message, duration) with the filters passed on', async () => {
      const p = api.addProject({ name: 'listed' });
      const b = api.addBuild(p.id, { status: 'failed', startedAt: '2025-01-01T10:00:01.000Z', finishedAt: '2025-01-01T10:01:13.000Z' });
      const r = await kiln(['builds', 'ls', 'listed', '--status', 'failed', '--branch', 'main', '--limit', '5']);
      expect(r.code).toBe(0);
      const q = api.requests.find((x) => x.path.endsWith('/builds'))!.query;
      expect(Object.fromEntries(q)).toEqual({ status: 'failed', branch: 'main', limit: '5' });
      expect(r.lines[0]).toMatch(/^ID\s+STATUS\s+BRANCH\s+SHA\s+MESSAGE\s+DURATION$/);
      expect(r.lines[1]).toMatch(new RegExp(`^${b.id.slice(0, 8)}\\s+failed\\s+main\\s+abcdef1\\s+fix the thing\\s+1m 12s$`));
      const bad = await kiln(['builds', 'ls', 'listed', '--limit', '0']);
      expect(bad.code).toBe(2);
    });

    it('builds ls colours the status on a colour terminal (FORCE_COLOR) and not with --no-color', async () => {
      const p = api.addProject({ name: 'coloured' });
      api.addBuild(p.id, { status: 'succeeded' });
      const c = await kiln(['builds', 'ls', 'coloured'], { env: { FORCE_COLOR: '1' } });
      expect(c.out).toContain('\x1b[32msucceeded\x1b[39m');
      const n = await kiln(['builds', 'ls', 'coloured', '--no-color'], { env: { FORCE_COLOR: '1' } });
      expect(n.out).not.toContain('\x1b[');
      const e = await kiln(['builds', 'ls', 'coloured'], { env: { FORCE_COLOR: '1', NO_COLOR: '1' } });
      expect(e.out).not.toContain('\x1b[');
    });

    it('builds show (by short id): status, steps with exit codes and durations', async () => {
      const p = api.addProject({ name: 'shown' });
      const b = api.addBuild(p.id, {
        status: 'failed',
        exitCode: 3,
        reason: 'step "test" failed with exit code 3',
        startedAt: '2025-01-01T10:00:00.000Z',
        finishedAt: '2025-01-01T10:00:05.500Z',
        steps: [
          { index: 0, name: 'install', status: 'succeeded', exitCode: 0, startedAt: null, finishedAt: null, durationMs: 2300 },
          { index: 1, name: 'test', status: 'failed', exitCode: 3, startedAt: null, finishedAt: null, durationMs: 850 },
          { index: 2, name: 'deploy', status: 'pending', exitCode: null, startedAt: null, finishedAt: null, durationMs: null },
        ],
      });
      const r = await kiln(['builds', 'show', b.id.slice(0, 8)]);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`Build ${b.id}`);
      expect(r.out).toMatch(/Status\s+failed \(exit 3\)/);
      expect(r.out).toMatch(new RegExp(`Project\\s+shown \\(${p.id}\\)`));
      expect(r.out).toMatch(/Duration\s+5\.5s/);
      expect(r.out).toMatch(/✓\s+1\s+install\s+succeeded\s+0\s+2\.3s/);
      expect(r.out).toMatch(/✗\s+2\s+test\s+failed\s+3\s+850ms/);
      expect(r.out).toMatch(/○\s+3\s+deploy\s+pending\s+-\s+-/);
      const j = await kiln(['builds', 'show', b.id, '--json']);
      expect(JSON.parse(j.out)).toEqual(api.builds.get(b.id));
    });

    it('an unknown build is the API\'s 404, shown clearly (exit 1)', async () => {
      const r = await kiln(['builds', 'show', '00000000-0000-4000-8000-000000000000']);
      expect(r.code).toBe(1);
      expect(r.err).toContain('build 00000000-0000-4000-8000-000000000000 not found (not_found, HTTP 404)');
      const j = await kiln(['builds', 'show', '00000000-0000-4000-8000-000000000000', '--json']);
      expect(JSON.parse(j.err)).toEqual({ status: 404, error: 'not_found', message: 'build 00000000-0000-4000-8000-000000000000 not found' });
    });

    it('cancel: a queued build is cancelled; cancelling a finished one shows the API\'s 409', async () => {
      const p = api.addProject({ name: 'cancels' });
      const b = api.addBuild(p.id, { status: 'queued' });
      const r = await kiln(['cancel', b.id]);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`Build ${b.id.slice(0, 8)} cancelled.`);
      const again = await kiln(['cancel', b.id]);
      expect(again.code).toBe(1);
      expect(again.err).toContain('already cancelled (illegal_state, HTTP 409)');
    });
  });

  describe('logs', () => {
    it('prints the whole history page by page, each line once, and exits 0 when the build succeeded', async () => {
      const p = api.addProject({ name: 'history' });
      const b = api.addBuild(p.id, { status: 'succeeded', startedAt: '2025-01-01T10:00:00.000Z', finishedAt: '2025-01-01T10:00:01.000Z' });
      const texts = Array.from({ length: 2500 }, (_, i) => `line ${i + 1}`);
      api.appendLog(b.id, texts.map((t) => ['stdout', t, 0] as ['stdout', string, number]));
      api.endLog(b.id, 'succeeded');
      const r = await kiln(['logs', b.id]);
      expect(r.code).toBe(0);
      expect(r.lines).toEqual(texts);
      const pages = api.requests.filter((q) => q.path.endsWith('/logs'));
      expect(pages.map((q) => q.query.get('cursor'))).toEqual([null, '334-0', '667-1']);
      expect(stripAnsi(r.err)).toContain('✓ build');
    });

    it('exits 1 for a failed build; NDJSON with --json', async () => {
      const p = api.addProject({ name: 'failing' });
      const b = api.addBuild(p.id, { status: 'failed' });
      api.appendLog(b.id, [['stderr', 'boom', 0]]);
      api.endLog(b.id, 'failed');
      const r = await kiln(['logs', b.id, '--json']);
      expect(r.code).toBe(1);
      expect(r.lines.map((l) => JSON.parse(l))).toEqual([
        { cursor: '1-0', n: 1, t: expect.any(Number), stream: 'stderr', step: 0, text: 'boom', attempt: 1 },
        { end: { buildId: b.id, status: 'failed', complete: true } },
      ]);
    });

    it('colours: stderr red, system cyan, the build\'s own colours kept, other escapes removed; none with --no-color', async () => {
      const p = api.addProject({ name: 'colours' });
      const b = api.addBuild(p.id, { status: 'succeeded' });
      api.appendLog(b.id, [['system', 'kiln: step 1/1 "t"', 0], ['stdout', '\x1b[32mgreen\x1b[0m \x1b]0;title\x07\x1b[2Jtext'], ['stderr', 'oops']]);
      api.endLog(b.id, 'succeeded');
      const c = await kiln(['logs', b.id], { env: { FORCE_COLOR: '1' } });
      expect(c.lines).toEqual(['\x1b[1m\x1b[36mkiln: step 1/1 "t"\x1b[39m\x1b[22m', '\x1b[32mgreen\x1b[0m text\x1b[0m', '\x1b[31moops\x1b[39m']);
      const n = await kiln(['logs', b.id, '--no-color'], { env: { FORCE_COLOR: '1' } });
      expect(n.lines).toEqual(['kiln: step 1/1 "t"', 'green text', 'oops']);
    });

    it('-f follows live lines and, when the connection drops mid-event, resumes with Last-Event-ID: no gap, no duplicate', async () => {
      const p = api.addProject({ name: 'live' });
      const b = api.addBuild(p.id, { status: 'running', startedAt: new Date().toISOString() });
      api.appendLog(b.id, Array.from({ length: 10 }, (_, i) => ['stdout', `early ${i + 1}`, 0] as ['stdout', string, number]));
      api.dropStreamAfter.set(b.id, 7);
      setTimeout(() => api.appendLog(b.id, [['stdout', 'late 1', 0], ['stderr', 'late 2', 0]]), 150);
      setTimeout(() => {
        api.update(b.id, { status: 'succeeded', finishedAt: new Date().toISOString() });
        api.endLog(b.id, 'succeeded');
      }, 300);
      const r = await kiln(['logs', '-f', b.id]);
      expect(r.code).toBe(0);
      expect(r.lines).toEqual([...Array.from({ length: 10 }, (_, i) => `early ${i + 1}`), 'late 1', 'late 2']);
      const conns = api.streamConnections.filter((c) => c.buildId === b.id);
      expect(conns.map((c) => c.lastEventId)).toEqual([null, api.logLines(b.id)[6].cursor]);
      expect(r.err).toMatch(/log stream interrupted .*; resuming \(1\)/);
    });

    it('-f retries a 502 from the gateway (log-store restarting) and continues', async () => {
      const p = api.addProject({ name: 'bad-gateway' });
      const b = api.addBuild(p.id, { status: 'succeeded' });
      api.appendLog(b.id, [['stdout', 'one'], ['stdout', 'two']]);
      api.endLog(b.id, 'succeeded');
      api.streamFailures.set(b.id, 2);
      const r = await kiln(['logs', '-f', b.id]);
      expect(r.code).toBe(0);
      expect(r.lines).toEqual(['one', 'two']);
      expect(api.streamConnections.filter((c) => c.buildId === b.id)).toHaveLength(3);
      expect(r.err).toContain('log-store did not answer');
    });

    it('-f: when the stream is down while the build ends, the rest of the log comes from history (no gap)', async () => {
      const p = api.addProject({ name: 'stalled' });
      const b = api.addBuild(p.id, { status: 'running', startedAt: new Date().toISOString() });
      api.appendLog(b.id, [['stdout', 'l1'], ['stdout', 'l2'], ['stdout', 'l3']]);
      api.dropStreamAfter.set(b.id, 2);
      api.streamStalled.add(b.id); // reconnects hang: no line, no end
      setTimeout(() => {
        api.appendLog(b.id, [['stdout', 'l4'], ['stdout', 'l5']]);
        api.endLog(b.id, 'succeeded');
        api.update(b.id, { status: 'succeeded', finishedAt: new Date().toISOString() });
      }, 100);
      try {
        const r = await kiln(['logs', '-f', b.id]);
        expect(r.code).toBe(0);
        expect(r.lines).toEqual(['l1', 'l2', 'l3', 'l4', 'l5']);
        const history = api.requests.filter((q) => q.path === `/api/builds/${b.id}/logs`);
        expect(history.map((q) => q.query.get('cursor'))).toEqual(['1-1']);
      } finally {
        api.streamStalled.delete(b.id);
      }
    });

    it('-f stops when the build ends without a log end record (cancelled while queued): exit 1', async () => {
      const p = api.addProject({ name: 'never-ran' });
      const b = api.addBuild(p.id, { status: 'queued' });
      setTimeout(() => api.update(b.id, { status: 'cancelled', finishedAt: new Date().toISOString() }), 100);
      const r = await kiln(['logs', '-f', b.id]);
      expect(r.code).toBe(1);
      expect(stripAnsi(r.err)).toMatch(/build [0-9a-f]{8} cancelled/);
    });

    it('without -f, a build still running prints the log so far and says so (exit 1)', async () => {
      const p = api.addProject({ name: 'running' });
      const b = api.addBuild(p.id, { status: 'running' });
      api.appendLog(b.id, [['stdout', 'so far']]);
      const r = await kiln(['logs', b.id]);
      expect(r.lines).toEqual(['so far']);
      expect(r.err).toContain('build is running: this is the log so far');
      expect(r.code).toBe(1);
    });
  });

  describe('the bin/kiln launcher (built by npm run build)', () => {
    const root = resolve(__dirname, '../../..');
    const run = promisify(execFile);
    const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? '', HOME: tmp, KILN_CONFIG: configFile, ...extra });
    const kilnBin = async (args: string[], extra: Record<string, string> = {}) =>
      run(join(root, 'bin', 'kiln'), args, { env: env(extra) }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );

    beforeAll(() => {
      if (!existsSync(join(root, 'dist', 'apps', 'cli', 'src', 'main.js'))) throw new Error('dist/apps/cli is missing: run `npm run build` (npm test does) first');
    });

    it('--help exits 0; no command exits 2', async () => {
      const h = await kilnBin(['--help']);
      expect(h.code).toBe(0);
      expect(h.stdout).toContain('Usage: kiln <command>');
      expect((await kilnBin([])).code).toBe(2);
    });

    it('logs in, lists projects as JSON and follows a log to its exit code', async () => {
      const p = api.addProject({ name: 'via-bin' });
      const b = api.addBuild(p.id, { status: 'failed' });
      api.appendLog(b.id, [['stdout', 'from the binary']]);
      api.endLog(b.id, 'failed');
      const login = await kilnBin(['login', '--url', api.url, '--token', api.token]);
      expect(login.code).toBe(0);
      const ls = await kilnBin(['projects', 'ls', '--json']);
      expect(JSON.parse(ls.stdout).items.map((x: { name: string }) => x.name)).toContain('via-bin');
      const logs = await kilnBin(['logs', '-f', b.id], { NO_COLOR: '1' });
      expect(logs.code).toBe(1);
      expect(logs.stdout).toBe('from the binary\n');
    });
  });
});
