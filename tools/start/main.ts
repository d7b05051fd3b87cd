import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, ConfigError } from '@kiln/config';
import { GitFixture } from '../platform/git-fixture';
import { githubPush } from '../platform/github-push';
import { portsOf, startPlatform, workspaceRootFromTools } from '../platform/launch';

const c = { dim: '\x1b[2m', red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', cyan: '\x1b[36m', bold: '\x1b[1m', reset: '\x1b[0m' };
const DEMO_SECRET = 'hello-kiln-webhook-secret';

/**
 * `npm start`: every Kiln service on this machine, a demo build of the example repository
 * with its log printed live, then serving until Ctrl-C stops everything cleanly.
 */
async function main(): Promise<void> {
  let cfg;
  try {
    cfg = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`kiln: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  const token = cfg.adminToken ?? 'kiln-dev-token';
  const env = { ...process.env, KILN_ADMIN_TOKEN: token };
  const logFile = join(tmpdir(), 'kiln-services.log');
  const out = createWriteStream(logFile, { flags: 'a' });
  console.log(`${c.bold}kiln${c.reset} starting services (logs: ${logFile}) ...`);
  const t0 = Date.now();
  const platform = await startPlatform({
    env,
    onLine: (service, line) => {
      out.write(`${service} ${line}\n`);
      if (/"level":"(warn|error)"/.test(line) && !/KILN_ADMIN_TOKEN is not set/.test(line)) console.error(`${c.yellow}${service}${c.reset} ${line}`);
    },
  });
  const api = `http://127.0.0.1:${portsOf(env).api}`;
  console.log(`${c.green}ready${c.reset} in ${Date.now() - t0} ms`);
  console.log(`  dashboard  ${c.cyan}${api}/${c.reset}`);
  console.log(`  API        ${c.cyan}${api}/api${c.reset}  (Authorization: Bearer ${token}${cfg.adminToken ? '' : ' — the development token; set KILN_ADMIN_TOKEN'})`);
  console.log(`  webhooks   ${c.cyan}${api}/webhooks/github${c.reset}, ${c.cyan}${api}/webhooks/gitlab${c.reset}`);
  console.log(`  edge       ${c.cyan}http://<environment>.localhost:${cfg.edgePort}/${c.reset}  (deployed environments)`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping every service ...`);
    await platform.stop();
    out.end();
    console.log('stopped.');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  if (process.env.KILN_DEMO !== '0') {
    try {
      await demo(api, token);
    } catch (e) {
      console.error(`${c.red}demo build failed to run:${c.reset} ${(e as Error).message}`);
    }
  }
  console.log(`\nKiln is running. Press Ctrl-C to stop.`);
}

async function demo(api: string, token: string): Promise<void> {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const root = join(tmpdir(), 'kiln-demo');
  const bare = join(root, 'hello-kiln.git');
  const fresh = !existsSync(bare);
  mkdirSync(root, { recursive: true });
  const repo = fresh ? new GitFixture(root, 'hello-kiln') : Object.assign(Object.create(GitFixture.prototype), { root, bare, work: join(root, 'hello-kiln-work') });
  const sha = (repo as GitFixture).commitDir(join(workspaceRootFromTools(), 'examples', 'hello-kiln'), `demo build ${new Date().toISOString()}`);

  const projects = (await (await fetch(`${api}/api/projects`, { headers })).json()) as { items: { id: string; repoUrl: string }[] };
  let projectId = projects.items.find((p) => p.repoUrl === bare)?.id;
  if (!projectId) {
    const r = await fetch(`${api}/api/projects`, { method: 'POST', headers, body: JSON.stringify({ name: 'hello-kiln', repoUrl: bare, provider: 'github', webhookSecret: DEMO_SECRET }) });
    if (r.status !== 201) throw new Error(`creating the demo project: ${r.status} ${await r.text()}`);
    projectId = ((await r.json()) as { id: string }).id;
  }
  const push = githubPush({ repoUrl: bare, fullName: 'kiln/hello-kiln', sha, secret: DEMO_SECRET, message: 'demo build' });
  const t0 = Date.now();
  const w = await fetch(`${api}/webhooks/github`, { method: 'POST', headers: push.headers, body: push.body });
  const body = (await w.json()) as { buildId?: string };
  if (w.status !== 202 || !body.buildId) throw new Error(`webhook answered ${w.status} ${JSON.stringify(body)}`);
  console.log(`\n${c.bold}demo build${c.reset} ${body.buildId} of ${sha.slice(0, 8)} (project hello-kiln) — live log:`);
  console.log(`  ${c.dim}${api}/api/builds/${body.buildId}${c.reset}`);
  const status = await followLog(`${api}/api/builds/${body.buildId}/logs/stream`, token, t0);
  const color = status === 'succeeded' ? c.green : c.red;
  console.log(`${color}${c.bold}build ${status}${c.reset} in ${Date.now() - t0} ms (webhook to last line)`);
}

async function followLog(url: string, token: string, t0: number): Promise<string> {
  const r = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  if (!r.ok || !r.body) throw new Error(`log stream: ${r.status}`);
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return 'unknown';
    buf += dec.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (!data) continue;
      const d = JSON.parse(data);
      if (event === 'end') {
        await reader.cancel();
        return d.status as string;
      }
      const tag = d.stream === 'stderr' ? c.red : d.stream === 'system' ? c.cyan : '';
      console.log(`${c.dim}${String(Date.now() - t0).padStart(5)}ms${c.reset} ${tag}${d.text}${c.reset}`);
    }
  }
}

main().catch((e) => {
  console.error(`kiln: ${(e as Error).message}`);
  process.exit(1);
});
