import { execFile, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { GitFixture } from '../../tools/platform/git-fixture';
import { Platform, TOKEN } from './harness';

/**
 * The `kiln` command line (the built bin/kiln) against a whole platform of its own: log in,
 * create a project, push, and follow builds' logs to their exit codes.
 */
describe('kiln CLI end to end', () => {
  const platform = new Platform();
  const secret = 'cli-e2e-webhook-secret';
  let repo: GitFixture;

  const kiln = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((done) => {
      execFile(
        process.execPath,
        [resolve(__dirname, '../../bin/kiln'), ...args],
        { env: { PATH: process.env.PATH ?? '', HOME: platform.tmp, KILN_CONFIG: join(platform.tmp, 'kiln-cli.json'), NO_COLOR: '1' }, timeout: 60_000 },
        (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  const push = async (sha: string): Promise<string> => {
    const r = await platform.githubPush({ repoUrl: repo.bare, fullName: 'kiln-cli/app', sha, secret, message: 'cli e2e' });
    expect(r.status).toBe(202);
    return r.body.buildId as string;
  };

  beforeAll(async () => {
    await platform.start();
    repo = new GitFixture(platform.tmp, 'cli-app');
  }, 120_000);

  afterAll(async () => {
    await platform.dispose();
  }, 60_000);

  it('logs in and creates a project, printing the webhook to paste', async () => {
    const bad = await kiln(['login', '--url', platform.api, '--token', 'wrong-token']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('HTTP 401');
    const login = await kiln(['login', '--url', platform.api, '--token', TOKEN]);
    expect(login.code).toBe(0);
    const created = await kiln(['projects', 'create', '--name', 'cli-app', '--repo', repo.bare, '--provider', 'github', '--secret', secret, '--json']);
    expect(created.code).toBe(0);
    const body = JSON.parse(created.stdout);
    expect(body.webhook).toMatchObject({ url: expect.stringMatching(/\/webhooks\/github$/), secret });
  });

  it('follows a pushed build live with logs -f: the log in order, exit 0; then lists and shows it', async () => {
    const sha = repo.commit(
      { '.kiln.yml': 'steps:\n  - name: build\n    run: |\n      for i in $(seq 1 20); do echo "line $i"; done\n      echo "to stderr" >&2\n      sleep 1\n      echo after-sleep\n' },
      'passing pipeline',
    );
    const buildId = await push(sha);
    const logs = await kiln(['logs', '-f', buildId]);
    expect(logs.code).toBe(0);
    const lines = logs.stdout.split('\n');
    const expected = [...Array.from({ length: 20 }, (_, i) => `line ${i + 1}`), 'to stderr', 'after-sleep'];
    expect(lines.filter((l) => expected.includes(l))).toEqual(expected);
    expect(lines).toContain('kiln: step 1/1 "build"');
    expect(logs.stderr).toMatch(/✓ build [0-9a-f]{8} succeeded/);

    const history = await kiln(['logs', buildId]);
    expect(history.code).toBe(0);
    expect(history.stdout).toBe(logs.stdout);

    await platform.eventually(async () => ((await kiln(['builds', 'ls', 'cli-app'])).stdout.includes(buildId.slice(0, 8)) ? true : undefined), 15_000, 'the build in builds ls');
    const ls = await kiln(['builds', 'ls', 'cli-app', '--status', 'succeeded']);
    expect(ls.stdout).toMatch(new RegExp(`${buildId.slice(0, 8)}\\s+succeeded\\s+main\\s+${sha.slice(0, 7)}\\s+cli e2e`));
    const show = await kiln(['builds', 'show', buildId.slice(0, 8)]);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/Status\s+succeeded/);
    expect(show.stdout).toMatch(/✓\s+1\s+build\s+succeeded\s+0\s+\d/);
  });

  it('a failing build: logs -f exits 1', async () => {
    const sha = repo.commit({ '.kiln.yml': 'steps:\n  - name: broken\n    run: echo failing; exit 4\n' }, 'failing pipeline');
    const logs = await kiln(['logs', '-f', await push(sha)]);
    expect(logs.code).toBe(1);
    expect(logs.stdout).toContain('failing');
    expect(logs.stderr).toMatch(/✗ build [0-9a-f]{8} failed \(exit 4\)/);
  });

  it('build trigger <name> --follow builds the branch head and exits with its result', async () => {
    repo.commit({ '.kiln.yml': 'steps:\n  - name: manual\n    run: echo "manual run of $KILN_BRANCH"\n' }, 'manual pipeline');
    const r = await kiln(['build', 'trigger', 'cli-app', '--ref', 'main', '--follow']);
    expect(r.code).toBe(0);
    const [buildId, ...rest] = r.stdout.split('\n');
    expect(buildId).toMatch(/^[0-9a-f-]{36}$/);
    expect(rest).toContain('manual run of main');
  });

  it('logs -f survives a log-store restart mid-build: it resumes with Last-Event-ID, no line lost or doubled', async () => {
    const sha = repo.commit({ '.kiln.yml': 'steps:\n  - name: slow\n    run: |\n      for i in $(seq 1 12); do echo "tick $i"; sleep 0.5; done\n' }, 'slow pipeline');
    const buildId = await push(sha);
    const child = spawn(process.execPath, [resolve(__dirname, '../../bin/kiln'), 'logs', '-f', buildId], {
      env: { PATH: process.env.PATH ?? '', HOME: platform.tmp, KILN_CONFIG: join(platform.tmp, 'kiln-cli.json'), NO_COLOR: '1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await platform.eventually(async () => (stdout.includes('tick 2') ? true : undefined), 30_000, 'the first ticks');
    await platform.restart('log-store');
    expect(await exited).toBe(0);
    const ticks = stdout.split('\n').filter((l) => l.startsWith('tick '));
    expect(ticks).toEqual(Array.from({ length: 12 }, (_, i) => `tick ${i + 1}`));
    expect(stderr).toMatch(/log stream interrupted/);
  }, 60_000);

  it('cancels a running build; following it then exits 1', async () => {
    const sha = repo.commit({ '.kiln.yml': 'steps:\n  - name: forever\n    run: echo started; sleep 60\n' }, 'long build');
    const buildId = await push(sha);
    await platform.eventually(async () => {
      const show = await kiln(['builds', 'show', buildId, '--json']);
      return JSON.parse(show.stdout).steps?.[0]?.status === 'running' ? true : undefined;
    }, 30_000, 'the step to run');
    const cancel = await kiln(['cancel', buildId]);
    expect(cancel.code).toBe(0);
    const logs = await kiln(['logs', '-f', buildId]);
    expect(logs.code).toBe(1);
    expect(logs.stdout).toContain('started');
    expect(logs.stderr).toMatch(/build [0-9a-f]{8} cancelled/);
  });
});
