import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WarmupSpec } from '@kiln/contracts';
import { alive, eventually, FIXTURE_APP } from '../../test/deploy-testbed';
import { freePort, InstanceProcess } from '../runtime/instance-process';
import { WarmingObservation, warmUp } from './warm-up';

/** Warm-up and instance processes against the real fixture app. */
describe('warm-up of a real instance', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-warmup-'));
  const running: InstanceProcess[] = [];
  afterAll(async () => {
    await Promise.all(running.map((i) => i.stop(500)));
    rmSync(tmp, { recursive: true, force: true });
  });

  const start = async (app: Record<string, string>, command = `exec node ${JSON.stringify(FIXTURE_APP)}`) => {
    const port = await freePort();
    const vars = Object.entries(app).map(([k, v]) => `${k}=${v}`).join(' ');
    const inst = InstanceProcess.spawn({
      instanceId: `i-${running.length + 1}`,
      deployId: 'd-warmup-test',
      command: `${vars} ${command}`,
      cwd: tmp,
      port,
      env: { KILN_INSTANCE_INDEX: '1' },
      logFile: join(tmp, `i-${running.length + 1}.log`),
    });
    running.push(inst);
    return inst;
  };
  const spec = (w: Partial<WarmupSpec> = {}): WarmupSpec => ({ paths: ['/'], hostName: null, header: 'X-AppInit-WarmingUp', timeoutMs: 8000, maxTimeoutMs: 8000, requestTimeoutMs: 1000, ...w });
  const warm = async (port: number, w: WarmupSpec, signal = new AbortController().signal) => {
    const seen: WarmingObservation[] = [];
    const r = await warmUp({ port, spec: w, intervalMs: 50, signal, onObservation: (o) => void seen.push(o) });
    return { r, seen };
  };

  it('a port nobody listens on yet and a hanging request are "still warming"', async () => {
    const inst = await start({ LISTEN_AFTER_MS: '400', WARM_AFTER_MS: '1500', WARM_MODE: 'hang' });
    const { r, seen } = await warm(inst.port, spec({ requestTimeoutMs: 300 }));
    expect(r).toMatchObject({ outcome: 'warm', warnings: [] });
    expect(seen.map((o) => o.observation)).toEqual(['connection refused', 'no answer within 300ms (hanging)']);
    expect(seen.every((o) => !o.signalSeen && o.limitMs === 8000)).toBe(true);
  });

  it('goes through the paths in order; a redirect counts as an answer, with a warning', async () => {
    const inst = await start({});
    const { r } = await warm(inst.port, spec({ paths: ['/moved', '/', '/stats'] }));
    expect(r).toEqual({ outcome: 'warm', tookMs: expect.any(Number), warnings: ['GET /moved answered 302 (Location: /): a redirect counts as an answer'] });
    const stats = (await fetch(`http://127.0.0.1:${inst.port}/stats`).then((x) => x.json())) as { hits: number };
    expect(stats.hits).toBe(4); // three warm-up requests and this one
  });

  it('asks one path at a time, as hostName, and reads a custom warming-up header', async () => {
    // /a: warming (with the header), then 503, then warm; /b: warm
    const seen: string[] = [];
    const answers = [{ status: 200, warming: true }, { status: 503, warming: false }, { status: 200, warming: false }];
    const server = createServer((req, res) => {
      seen.push(`${req.headers.host} ${req.url}`);
      const a = req.url === '/a' ? (answers.shift() ?? { status: 200, warming: false }) : { status: 200, warming: false };
      res.writeHead(a.status, a.warming ? { 'X-Warming': 'yes' } : {});
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const { r, seen: observed } = await warm(port, spec({ paths: ['/a', '/b'], hostName: 'app.example.com', header: 'X-Warming', timeoutMs: 5000, maxTimeoutMs: 9000 }));
      expect(r).toMatchObject({ outcome: 'warm', warnings: [] });
      expect(seen).toEqual(['app.example.com /a', 'app.example.com /a', 'app.example.com /a', 'app.example.com /b']);
      expect(observed).toEqual([
        { path: '/a', observation: '200 with X-Warming: yes', signalSeen: true, limitMs: 9000 },
        { path: '/a', observation: '503', signalSeen: true, limitMs: 9000 },
      ]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('times out at timeout without a signal, and reports the last answer', async () => {
    const inst = await start({ NEVER_WARM: '1' });
    // Wait until it listens: on a busy machine node may take longer to start than the 700 ms limit.
    await eventually(() => fetch(`http://127.0.0.1:${inst.port}/`).then((x) => (x.status === 503 ? true : undefined), () => undefined), 10_000, 'instance listening');
    const t0 = Date.now();
    const { r } = await warm(inst.port, spec({ timeoutMs: 700, maxTimeoutMs: 5000 }));
    expect(r).toEqual({ outcome: 'timed_out', reason: 'not warm after 700ms (no warm-up signal seen): last GET /: 503' });
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('stops at once when aborted', async () => {
    const inst = await start({ NEVER_WARM: '1' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const t0 = Date.now();
    const { r } = await warm(inst.port, spec(), ac.signal);
    expect(r).toEqual({ outcome: 'aborted' });
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it('stopping an instance ends its whole process group; its output is in its log file', async () => {
    const inst = await start({}, `sleep 60 & echo started-$PORT; exec node ${JSON.stringify(FIXTURE_APP)}`);
    const log = () => {
      try {
        return readFileSync(join(tmp, `i-${running.length}.log`), 'utf8');
      } catch {
        return ''; // not opened yet
      }
    };
    await eventually(() => (log().includes(`started-${inst.port}`) ? true : undefined), 3000, 'output');
    const exits: string[] = [];
    inst.onExit((why) => exits.push(why));
    await inst.stop(1000);
    expect(alive(inst.pid)).toBe(false);
    // the background `sleep` was in the same group
    await eventually(() => {
      try {
        process.kill(-inst.pid, 0);
        return undefined;
      } catch {
        return true;
      }
    }, 3000, 'the process group to end');
    expect(exits).toHaveLength(1);
  });
});
