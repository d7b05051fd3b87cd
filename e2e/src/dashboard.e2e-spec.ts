import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { chromium, Browser, Page } from 'playwright-core';
import { GitFixture } from '../../tools/platform/git-fixture';
import { Platform, TOKEN } from './harness';

/**
 * The dashboard in a real browser (Debian's headless Chromium driven by playwright-core)
 * against a whole platform: enter the token, open a project, watch a running build's log
 * arrive live over SSE (in order, coloured), see it succeed, visit the pool, and watch a
 * build's deploy warm its instances and switch traffic (and a deploy that never warms fail
 * with its reason). Each page is saved to e2e/screenshots/.
 */
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(__dirname, '..', 'screenshots');
const haveChromium = existsSync(CHROMIUM);
/** The deployer's test app: cold (503) for WARM_AFTER_MS after start, then reports VERSION. */
const APP = readFileSync(join(__dirname, '..', '..', 'apps', 'deployer', 'test', 'fixtures', 'warm-app.js'), 'utf8');
if (!haveChromium) {
  process.stderr.write(
    `\n[dashboard e2e] NOT RUN: ${CHROMIUM} is missing. The dashboard's browser test needs Debian's chromium ` +
      `(apt-get update && apt-get install -y chromium); .ci/run installs it in CI.\n\n`,
  );
}

(haveChromium ? describe : describe.skip)('dashboard in headless Chromium', () => {
  const platform = new Platform();
  const secret = 'dashboard-e2e-secret';
  let repo: GitFixture;
  let projectId: string;
  let buildId: string;
  let gate: string;
  let browser: Browser;
  let page: Page;
  const requests: string[] = [];
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];

  /** A pipeline that prints slowly, with colours and other escapes, and waits at a gate (a file the test creates) halfway. */
  const pipeline = (gateFile: string) => String.raw`steps:
  - name: prepare
    run: |
      for i in $(seq 1 60); do echo "prepare $i"; done
      printf '\033[1;34mbold blue heading\033[0m\n'
  - name: slow
    run: |
      for i in $(seq 1 10); do
        if [ $((i % 3)) -eq 0 ]; then printf '\033[32mline %d ok\033[0m\n' "$i"; else echo "line $i"; fi
        sleep 0.1
      done
      printf '\033]0;window title\007\033[2Kescapes stripped\n'
      echo "warning on stderr" >&2
      n=0; until [ -e '${gateFile}' ] || [ $n -ge 600 ]; do sleep 0.1; n=$((n+1)); done
      for i in $(seq 11 20); do
        if [ $((i % 3)) -eq 0 ]; then printf '\033[32mline %d ok\033[0m\n' "$i"; else echo "line $i"; fi
        sleep 0.1
      done
`;
  const stepLine = (i: number) => (i % 3 === 0 ? `line ${i} ok` : `line ${i}`);

  /** A pipeline with a `deploy` section: two instances of the test app on environment `web`. */
  const deployPipeline = (version: string, app: string, warmup: string[]) =>
    [
      'steps:',
      '  - name: check',
      '    run: node --check app.js',
      'deploy:',
      '  environment: web',
      `  start: VERSION=${version} ${app} node app.js`,
      '  instances: 2',
      '  warmup:',
      ...warmup.map((l) => `    ${l}`),
      '',
    ].join('\n');

  const pushCommit = async (sha: string, message: string): Promise<string> => {
    const pushed = await platform.githubPush({ repoUrl: repo.bare, fullName: 'kiln-e2e/web', sha, secret, message });
    expect(pushed.status).toBe(202);
    return pushed.body.buildId as string;
  };

  /** `GET /` on the edge router as `web.localhost`: the deployed app's version, or the edge's status. */
  const edgeVersion = (): Promise<string> =>
    new Promise((resolve) => {
      // (node:http: fetch does not let a caller set Host)
      const url = new URL(platform.edge);
      const req = request({ host: url.hostname, port: url.port, path: '/', headers: { host: 'web.localhost' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(res.statusCode === 200 ? (JSON.parse(body) as { version: string }).version : `edge ${res.statusCode}`));
      });
      req.on('error', (e) => resolve(`edge ${e.message}`));
      req.end();
    });

  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  /** The text of the build's own lines in the log viewer (not Kiln's system lines), in page order. */
  const logTexts = () => page.locator('.log .ln:not(.ln-system) .ln-t').allTextContents();

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    await platform.start();
    repo = new GitFixture(platform.tmp, 'web');
    const created = await platform.call('POST', '/api/projects', { name: 'dashboard demo', repoUrl: repo.bare, provider: 'github', webhookSecret: secret, branches: ['main'] });
    expect(created.status).toBe(201);
    projectId = created.body.id;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    page.setDefaultTimeout(20_000);
    page.on('request', (r) => requests.push(r.url()));
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await platform.dispose();
  }, 60_000);

  it('asks for the token, keeps it in localStorage, and lists the projects', async () => {
    await page.goto(`${platform.api}/`);
    // the development token is the default; this platform has its own admin token
    await expect(page.locator('#token-input').inputValue()).resolves.toBe('kiln-dev-token');
    await page.getByRole('alert').filter({ hasText: 'rejected the token' }).waitFor();
    await page.locator('#token-input').fill(TOKEN);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('link', { name: 'dashboard demo' }).waitFor();
    expect(await page.getByRole('alert').count()).toBe(0);
    expect(await page.locator('body').evaluate((body) => body.ownerDocument.defaultView!.localStorage.getItem('kiln.token'))).toBe(TOKEN);
    await page.reload();
    expect(await page.locator('#token-input').inputValue()).toBe(TOKEN);
    await page.getByRole('link', { name: 'dashboard demo' }).waitFor();
  }, 60_000);

  it('follows a running build: lines appear live, in order, coloured; then it succeeds', async () => {
    gate = join(platform.tmp, 'dashboard-gate');
    const sha = repo.commit({ '.kiln.yml': pipeline(gate) }, 'slow coloured pipeline');
    const pushed = await platform.githubPush({ repoUrl: repo.bare, fullName: 'kiln-e2e/web', sha, secret, message: 'slow coloured pipeline' });
    expect(pushed.status).toBe(202);
    buildId = pushed.body.buildId as string;
    const short = buildId.slice(0, 8);

    // the project's page lists the build (from the read model, which it polls); open it from there
    await platform.eventually(
      async () => ((await platform.call('GET', `/api/projects/${projectId}/builds`)).body.items.some((b: { id: string }) => b.id === buildId) ? true : undefined),
      20_000,
      'the build in the project list',
    );
    await page.getByRole('link', { name: 'dashboard demo' }).click();
    await page.getByRole('heading', { level: 1, name: 'dashboard demo' }).waitFor();
    await page.getByRole('link', { name: `Build ${short}` }).click({ timeout: 30_000 });
    await page.getByRole('heading', { level: 1, name: `Build #${short}` }).waitFor();

    // the build waits at the gate: everything before it is on the page, nothing after it
    await page.locator('.log .ln-stderr', { hasText: 'warning on stderr' }).waitFor({ timeout: 60_000 });
    expect((await platform.call('GET', `/api/builds/${buildId}`)).body.status).toBe('running');
    await page.locator('.build-status', { hasText: 'running' }).waitFor();
    const before = await logTexts();
    const prepare = Array.from({ length: 60 }, (_, i) => `prepare ${i + 1}`);
    const firstHalf = [...prepare, 'bold blue heading', ...Array.from({ length: 10 }, (_, i) => stepLine(i + 1)), 'escapes stripped', 'warning on stderr'];
    expect(before).toEqual(firstHalf);
    expect(before.some((t) => t.includes('line 11'))).toBe(false);
    // colours became spans; other escapes are gone
    await page.locator('.log span.ansi-green', { hasText: 'line 3 ok' }).waitFor();
    expect(await page.locator('.log span.ansi-green').count()).toBe(3);
    await page.locator('.log span.ansi-blue.ansi-bold', { hasText: 'bold blue heading' }).waitFor();
    expect(before.some((t) => t.includes('\x1b') || t.includes('window title'))).toBe(false);
    // steps: prepare done, slow running
    await page.locator('.step', { hasText: 'prepare' }).filter({ hasText: 'exit 0' }).waitFor();
    await page.locator('.step', { hasText: 'slow' }).filter({ hasText: 'running' }).waitFor();
    // the log overflows its box and the view follows the tail
    const atBottom = () =>
      page.locator('.log').evaluate((el) => ({ overflows: el.scrollHeight > el.clientHeight + 50, bottom: el.scrollHeight - el.scrollTop - el.clientHeight < 30 }));
    expect(await atBottom()).toEqual({ overflows: true, bottom: true });
    await shot('build-running');

    // jump to the first line of step "prepare": it is in view, the log stops following
    await page.getByRole('button', { name: 'Show the log of step prepare' }).click();
    const jumped = await page.locator('.log').evaluate((el) => {
      const target = el.querySelector('[data-step-start="0"]')!;
      const box = el.getBoundingClientRect();
      const r = target.getBoundingClientRect();
      return { inView: r.top >= box.top && r.bottom <= box.bottom, text: target.textContent, focused: el.ownerDocument.activeElement === target };
    });
    expect(jumped).toEqual({ inView: true, text: expect.stringContaining('kiln: step 1/2 "prepare"'), focused: true });
    expect(await page.getByRole('button', { name: 'Follow' }).getAttribute('aria-pressed')).toBe('false');
    await page.getByRole('button', { name: 'Follow' }).click();
    expect(await page.getByRole('button', { name: 'Follow' }).getAttribute('aria-pressed')).toBe('true');

    // open the gate and record when each new line reaches the page
    // (no string evaluation: the page's CSP forbids eval, and the test checks it raised no CSP error)
    await page.locator('.log').evaluate((log) => {
      // (typed by hand: the e2e project is compiled without the DOM library)
      interface El {
        classList?: { contains(c: string): boolean };
        querySelectorAll?(s: string): ArrayLike<El>;
        querySelector(s: string): { textContent: string | null } | null;
      }
      const record = log as unknown as { arrivals: { text: string; at: number }[] };
      record.arrivals = [];
      const view = log.ownerDocument.defaultView!;
      new view.MutationObserver((changes: { addedNodes: ArrayLike<unknown> }[]) => {
        for (const change of changes)
          for (const node of Array.from(change.addedNodes) as El[]) {
            const lines = node.classList?.contains('ln') ? [node] : Array.from(node.querySelectorAll?.('.ln') ?? []);
            for (const l of lines) record.arrivals.push({ text: l.querySelector('.ln-t')?.textContent ?? '', at: view.performance.now() });
          }
      }).observe(log, { childList: true, subtree: true });
    });
    writeFileSync(gate, '');
    await page.locator('.build-status', { hasText: 'succeeded' }).waitFor({ timeout: 60_000 });
    const arrivals = await page.locator('.log').evaluate((log) => (log as unknown as { arrivals: { text: string; at: number }[] }).arrivals);
    const second = arrivals.filter((a) => /^line \d+/.test(a.text));
    expect(second.map((a) => a.text)).toEqual(Array.from({ length: 10 }, (_, i) => stepLine(i + 11)));
    // printed 100 ms apart, shown as they came (not all at the end)
    expect(second[second.length - 1].at - second[0].at).toBeGreaterThan(250);

    // the whole log, in order, and the final state of the page
    const all = await logTexts();
    expect(all).toEqual([...firstHalf, ...Array.from({ length: 10 }, (_, i) => stepLine(i + 11))]);
    expect(await page.locator('.log span.ansi-green').count()).toBe(6);
    await page.locator('.conn', { hasText: 'complete' }).waitFor();
    await page.locator('.step', { hasText: 'slow' }).filter({ hasText: 'succeeded' }).filter({ hasText: 'exit 0' }).waitFor();
    expect(await atBottom()).toEqual({ overflows: true, bottom: true });
    await shot('build');
  }, 150_000);

  it('the project page shows the build succeeded; the projects page its latest build', async () => {
    await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'dashboard demo' }).click();
    await page.getByRole('heading', { level: 1, name: 'dashboard demo' }).waitFor();
    const row = page.locator('tr', { has: page.getByRole('link', { name: `Build ${buildId.slice(0, 8)}` }) });
    await row.locator('.badge', { hasText: 'succeeded' }).waitFor();
    await row.getByText('slow coloured pipeline').waitFor();
    await shot('project');

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Projects' }).click();
    await page.getByRole('heading', { level: 1, name: 'Projects' }).waitFor();
    const project = page.locator('tr', { has: page.getByRole('link', { name: 'dashboard demo' }) });
    await project.locator('.badge', { hasText: 'succeeded' }).waitFor();
    await shot('projects');
  }, 60_000);

  it('the pool page shows warm, cold and leased counts and the live workers', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Pool' }).click();
    await page.getByRole('heading', { level: 1, name: 'Worker pool' }).waitFor();
    // the pool keeps KILN_POOL_MIN_WARM=2 warm workers (refilled after the build retired its worker)
    await platform.eventually(async () => (Number(await page.locator('.stat-warm .stat-n').textContent()) >= 1 ? true : undefined), 30_000, 'a warm worker on the pool page');
    for (const label of ['warm', 'cold', 'leased']) await page.locator(`.stat-${label} .stat-label`, { hasText: label }).waitFor();
    await page.locator('table tbody .badge', { hasText: 'warm' }).first().waitFor();
    expect(await page.locator('table tbody tr').count()).toBeGreaterThanOrEqual(1);
    await shot('pool');
  }, 60_000);

  let liveDeployId: string;

  it('a build with a deploy section: the panel shows its instances warming, then the traffic switch', async () => {
    // cold for 6 s: long enough for the page (which reads the deploy every 2 s) to see the warm-up
    const sha = repo.commit({ '.kiln.yml': deployPipeline('v1', 'WARM_AFTER_MS=6000', ['paths: [/]', 'timeout: 60s']), 'app.js': APP }, 'deploy web v1');
    const deployBuild = await pushCommit(sha, 'deploy web v1');
    const short = deployBuild.slice(0, 8);
    await page.goto(`${platform.api}/#/builds/${deployBuild}`);
    await page.getByRole('heading', { level: 1, name: `Build #${short}` }).waitFor();

    // the panel appears once the build succeeded and the deployer recorded the deploy
    const panel = page.getByRole('region', { name: 'Deploy' });
    await panel.waitFor({ timeout: 90_000 });
    await page.locator('.build-status', { hasText: 'succeeded' }).waitFor();
    await panel.locator('.deploy-env', { hasText: 'web' }).waitFor();
    await panel.locator('.deploy-status .badge', { hasText: 'deploying' }).waitFor();
    await panel.getByText('Warming up: web gets traffic once all 2 instances are warm.').waitFor();

    // both instances warming, each showing what it last answered (503: the app is cold)
    const instance = (n: number) => panel.locator('.deploy-instance', { has: page.locator('.step-name', { hasText: `instance ${n}` }) });
    for (const n of [1, 2]) {
      await instance(n).locator('.badge', { hasText: 'warming' }).waitFor({ timeout: 20_000 });
    }
    await instance(1).getByText('last answer: 503').waitFor();
    expect(await panel.locator('.deploy-instance').count()).toBe(2);
    expect(await edgeVersion()).toBe('edge 503'); // no instance takes traffic while cold
    await panel.screenshot({ path: join(SHOTS, 'deploy-warming.png') });

    // all warm: the traffic switched to them
    await panel.locator('.deploy-status .badge', { hasText: 'live' }).waitFor({ timeout: 60_000 });
    for (const n of [1, 2]) {
      await instance(n).locator('.badge', { hasText: 'warm' }).waitFor();
      await instance(n).getByText(/^warm after \d/).waitFor();
    }
    await panel.locator('.deploy-switch', { hasText: /^Traffic switched (just now|\d+ s ago) \(first deploy\)$/ }).waitFor();
    const api = (await platform.call('GET', `/api/builds/${deployBuild}/deploys`)).body.items[0];
    expect(api).toMatchObject({ status: 'live', environment: 'web' });
    liveDeployId = api.id;
    await panel.getByText(`deploy ${liveDeployId.slice(0, 8)}`).waitFor();
    expect(await edgeVersion()).toBe('v1');
    await panel.screenshot({ path: join(SHOTS, 'deploy.png') });
    await shot('build-deployed');
  }, 180_000);

  it('a deploy that never warms: the panel shows why it failed and that the live version keeps serving', async () => {
    const sha = repo.commit({ '.kiln.yml': deployPipeline('v2', 'NEVER_WARM=1', ['paths: [/]', 'timeout: 3s', 'requestTimeout: 1s']) }, 'deploy web v2 (never warm)');
    const failedBuild = await pushCommit(sha, 'deploy web v2 (never warm)');
    await page.goto(`${platform.api}/#/builds/${failedBuild}`);
    const panel = page.getByRole('region', { name: 'Deploy' });
    await panel.locator('.deploy-status .badge', { hasText: 'failed' }).waitFor({ timeout: 90_000 });
    const reason = panel.locator('.deploy-summary .deploy-reason');
    expect(await reason.textContent()).toMatch(/^Failed: instance [12] not warm after 3s \(no warm-up signal seen\): last GET \/: 503\.$/);
    await panel.getByText(`No traffic moved: deploy ${liveDeployId.slice(0, 8)} keeps serving web.`).waitFor();
    await panel.locator('.deploy-instance .badge', { hasText: 'failed' }).first().waitFor();
    expect(await edgeVersion()).toBe('v1');
    await panel.screenshot({ path: join(SHOTS, 'deploy-failed.png') });
  }, 180_000);

  it('made no request outside the platform and raised no script or CSP error', () => {
    expect(requests.filter((u) => !u.startsWith(`${platform.api}/`))).toEqual([]);
    expect(pageErrors).toEqual([]);
    // 401s happened on purpose before the token was saved; nothing else may be an error
    expect(consoleErrors.filter((m) => !/status of 401/.test(m))).toEqual([]);
  });
});
