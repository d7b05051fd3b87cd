import { createServer, ServerResponse, Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeploySpec } from '@kiln/contracts';
import { DockerApi } from '@kiln/docker';
import { eventually } from '../../test/deploy-testbed';
import { DockerRuntime } from './docker-runtime';

/**
 * The docker runtime's conversation with the Engine API, against a stand-in engine on a unix
 * socket (there is no Docker engine on every machine; docker-runtime.int-spec.ts runs the real
 * thing where there is one). The stand-in keeps containers as records and answers like the
 * engine: 404 for an image it does not have, a `wait` held open until the container stops.
 */
class FakeEngine {
  readonly calls: string[] = [];
  readonly images = new Set<string>();
  readonly containers = new Map<string, { id: string; name: string; body: Record<string, unknown>; running: boolean; exitCode: number; logs: [number, string][]; waiters: ServerResponse[] }>();
  private server!: Server;
  private n = 0;

  async listen(socket: string): Promise<void> {
    this.server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c));
      req.on('end', () => this.handle(req.method!, req.url!.replace(/^\/v1\.41/, ''), raw, res));
    });
    await new Promise<void>((r) => this.server.listen(socket, r));
  }

  close(): Promise<void> {
    for (const c of this.containers.values()) for (const w of c.waiters) w.end('{}');
    return new Promise((r) => this.server.close(() => r()));
  }

  /** The container ends by itself (a crash). */
  exit(name: string, code: number, output: [number, string][]): void {
    const c = this.find(name)!;
    c.logs.push(...output);
    this.stop(c, code);
  }

  private find(idOrName: string) {
    return [...this.containers.values()].find((c) => c.id === idOrName || c.name === idOrName);
  }

  private stop(c: NonNullable<ReturnType<FakeEngine['find']>>, code: number): void {
    c.running = false;
    c.exitCode = code;
    for (const w of c.waiters.splice(0)) json(w, 200, { StatusCode: code });
  }

  private handle(method: string, url: string, raw: string, res: ServerResponse): void {
    const path = url.split('?')[0];
    const query = new URLSearchParams(url.split('?')[1] ?? '');
    this.calls.push(`${method} ${path}`);
    if (path === '/_ping') return void res.end('OK');
    if (method === 'POST' && path === '/images/create') {
      this.images.add(`${query.get('fromImage')}:${query.get('tag')}`);
      return json(res, 200, null, '{"status":"Downloaded newer image"}\n');
    }
    if (method === 'POST' && path === '/containers/create') {
      const body = JSON.parse(raw) as { Image: string };
      if (!this.images.has(body.Image)) return json(res, 404, { message: `No such image: ${body.Image}` });
      const id = `c${++this.n}`;
      this.containers.set(id, { id, name: query.get('name')!, body, running: false, exitCode: 0, logs: [], waiters: [] });
      return json(res, 201, { Id: id, Warnings: [] });
    }
    if (method === 'GET' && path === '/containers/json') {
      return json(res, 200, [...this.containers.values()].map((c) => ({ Id: c.id, Labels: c.body.Labels })));
    }
    const m = /^\/containers\/([^/]+)(?:\/(start|json|wait|logs|stop))?$/.exec(path);
    const c = m && this.find(decodeURIComponent(m[1]));
    if (!m || !c) return json(res, 404, { message: `No such container: ${m?.[1]}` });
    switch (m[2]) {
      case 'start':
        c.running = true;
        return void res.writeHead(204).end();
      case 'json':
        return json(res, 200, {
          Id: c.id,
          State: { Running: c.running, Status: c.running ? 'running' : 'exited', Pid: c.running ? 31337 : 0, ExitCode: c.exitCode },
          NetworkSettings: { Ports: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '49153' }] } },
          Config: { Labels: c.body.Labels },
        });
      case 'wait':
        if (!c.running) return json(res, 200, { StatusCode: c.exitCode });
        c.waiters.push(res);
        return;
      case 'stop':
        this.stop(c, 143);
        return void res.writeHead(204).end();
      case 'logs': {
        const frames = c.logs.map(([stream, text]) => {
          const payload = Buffer.from(text);
          const header = Buffer.alloc(8);
          header[0] = stream;
          header.writeUInt32BE(payload.length, 4);
          return Buffer.concat([header, payload]);
        });
        return void res.writeHead(200).end(Buffer.concat(frames));
      }
      default:
        if (method === 'DELETE') {
          this.stop(c, c.exitCode);
          this.containers.delete(c.id);
          return void res.writeHead(204).end();
        }
        return json(res, 405, { message: 'unexpected' });
    }
  }
}

function json(res: ServerResponse, status: number, body: unknown, text?: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(text ?? JSON.stringify(body));
}

describe('docker runtime against a stand-in engine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-fake-docker-'));
  const engine = new FakeEngine();
  const runtime = new DockerRuntime(new DockerApi(join(dir, 'docker.sock')), { rewaitMs: 20 });
  const spec: DeploySpec = {
    environment: 'shop',
    start: null,
    image: 'acme/shop:2',
    instances: 1,
    warmup: { paths: ['/'], hostName: null, header: 'X-AppInit-WarmingUp', timeoutMs: 1000, maxTimeoutMs: 1000, requestTimeoutMs: 1000 },
  };
  const req = (instanceId: string) => ({ instanceId, deployId: 'd-shop', spec, releaseDir: dir, logFile: join(dir, `${instanceId}.log`), env: { KILN_ENVIRONMENT: 'shop' } });

  beforeAll(() => engine.listen(join(dir, 'docker.sock')));
  afterAll(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pulls a missing image, creates and starts the container, reads its pid and port', async () => {
    expect(await runtime.unavailable(spec)).toBeNull();
    const inst = await runtime.start(req('d-shop-1'));
    expect(inst).toMatchObject({ instanceId: 'd-shop-1', deployId: 'd-shop', pid: 31337, port: 49153 });
    expect(engine.calls).toEqual([
      'GET /_ping',
      'DELETE /containers/kiln-d-shop-1', // nothing left from an earlier start
      'POST /containers/create',
      'POST /images/create',
      'POST /containers/create',
      'POST /containers/c1/start',
      'GET /containers/c1/json',
    ]);
    // then it waits for the container's end
    await eventually(() => (engine.calls.includes('POST /containers/c1/wait') ? true : undefined), 2000, 'the wait');
    expect(engine.images).toEqual(new Set(['acme/shop:2']));

    // stopped by Kiln: the wait returns, its output is kept, the container removed
    engine.calls.length = 0;
    const ended = new Promise<string>((r) => inst.onExit(r));
    await inst.stop(2000);
    expect(await ended).toBe('killed by SIGTERM');
    expect(engine.calls).toEqual(['POST /containers/c1/stop', 'GET /containers/c1/json', 'GET /containers/c1/logs', 'DELETE /containers/c1']);
    expect(engine.containers.size).toBe(0);
  });

  it('reports a crash with the last output, copies the output to the log file, removes the container', async () => {
    const inst = await runtime.start(req('d-shop-2'));
    const ended = new Promise<string>((r) => inst.onExit(r));
    engine.exit('kiln-d-shop-2', 3, [
      [1, 'listening on 8080\n'],
      [2, 'Error: cannot reach the database\n'],
    ]);
    expect(await ended).toBe('exited with code 3 (last output: listening on 8080 | Error: cannot reach the database)');
    expect(readFileSync(join(dir, 'd-shop-2.log'), 'utf8')).toBe('listening on 8080\nError: cannot reach the database\n');
    expect(engine.containers.size).toBe(0);
  });

  it('adopts a running container by its name after a restart, finds strays by label, reaps them', async () => {
    await runtime.start(req('d-shop-3'));
    const restarted = new DockerRuntime(new DockerApi(join(dir, 'docker.sock')));
    const adopted = await restarted.adopt({ instanceId: 'd-shop-3', deployId: 'd-shop', pid: 1, port: 1 });
    expect(adopted).toMatchObject({ instanceId: 'd-shop-3', pid: 31337, port: 49153 });
    expect(await restarted.adopt({ instanceId: 'd-shop-9', deployId: 'd-shop', pid: 1, port: 1 })).toBeNull();
    expect(await restarted.strays(new Set(['d-shop']))).toEqual([{ instanceId: 'd-shop-3', deployId: 'd-shop', pid: 0 }]);
    expect(await restarted.strays(new Set(['d-other']))).toEqual([]);
    await restarted.reap({ instanceId: 'd-shop-3' }, 1000);
    expect(engine.containers.size).toBe(0);
  });

  it('says why it cannot run a deploy: no image, or no engine', async () => {
    expect(await runtime.unavailable({ ...spec, image: null, start: 'x' })).toBe('the docker runtime runs deploy.image, and this deploy has none');
    const none = new DockerRuntime(new DockerApi(join(dir, 'nobody.sock')));
    expect(await none.unavailable(spec)).toBe(`deploy.image (acme/shop:2) needs a Docker engine, and none answers at unix://${join(dir, 'nobody.sock')} (set DOCKER_HOST)`);
    expect(await none.strays(new Set(['d-shop']))).toEqual([]);
  });
});
