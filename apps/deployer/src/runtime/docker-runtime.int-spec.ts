import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Attr, type DeploySpec } from '@kiln/contracts';
import { DockerApi } from '@kiln/docker';
import { Logger } from '@kiln/telemetry';
import { DeployTestbed, edgeGet, eventually } from '../../test/deploy-testbed';
import { ContainerInspect, containerName } from './container-spec';
import { DockerRuntime } from './docker-runtime';
import { ProcessRuntime } from './instance-process';
import { RunningInstance } from './instance-runtime';

const engine = process.env.DOCKER_HOST || process.env.DOCKER_SOCKET || '/var/run/docker.sock';
/** An image with node in it (the test app is a one-line node server). */
const image = process.env.KILN_DEPLOY_DOCKER_TEST_IMAGE || 'node:20-alpine';

/** A server on $PORT answering its environment; cold (503) for `warmAfterMs`. */
const server = (warmAfterMs = 0) =>
  `node -e "const t=Date.now();require('http').createServer((q,s)=>{if(Date.now()-t<${warmAfterMs}){s.statusCode=503;return s.end()}s.end(JSON.stringify({port:process.env.PORT,instance:process.env.KILN_INSTANCE_ID,version:'docker'}))}).listen(process.env.PORT,()=>console.log('listening'))"`;

describe('docker runtime (needs a Docker engine and a node image)', () => {
  let available = false;
  let reason = '';
  const tmp = mkdtempSync(join(tmpdir(), 'kiln-docker-runtime-'));
  const api = new DockerApi(engine);
  const runtime = new DockerRuntime(api, { log: new Logger('docker-runtime-test') });
  const deployId = `d-dockertest-${process.pid}`;
  const started: RunningInstance[] = [];

  beforeAll(async () => {
    if (!(await api.ping())) {
      reason = `no Docker engine answers at ${api.address}`;
      return;
    }
    const img = await api.call('GET', `/images/${encodeURIComponent(image)}/json`);
    if (img.status !== 200) {
      reason = `image ${image} not found (pull it, or set KILN_DEPLOY_DOCKER_TEST_IMAGE)`;
      return;
    }
    available = true;
  });
  afterAll(async () => {
    await Promise.all(started.map((i) => i.stop(1000).catch(() => undefined)));
    rmSync(tmp, { recursive: true, force: true });
  });

  const spec = (start: string | null): DeploySpec => ({
    environment: 'dock',
    start,
    image,
    instances: 1,
    warmup: { paths: ['/'], hostName: null, header: 'X-AppInit-WarmingUp', timeoutMs: 20_000, maxTimeoutMs: 20_000, requestTimeoutMs: 1000 },
  });
  const start = async (index: number, command: string) => {
    const instanceId = `${deployId}-${index}`;
    const inst = await runtime.start({ instanceId, deployId, spec: spec(command), releaseDir: tmp, logFile: join(tmp, `${instanceId}.log`), env: { KILN_INSTANCE_INDEX: String(index) } });
    started.push(inst);
    return inst;
  };
  const inspect = async (name: string) => api.call<ContainerInspect>('GET', `/containers/${name}/json`);

  it('starts a container with PORT, published on a free port of 127.0.0.1; finds it again; stops and removes it', async () => {
    if (!available) {
      console.log(`skipped: ${reason}`);
      return;
    }
    const inst = await start(1, server());
    expect(inst.pid).toBeGreaterThan(0);
    const answer = await eventually(
      async () => fetch(`http://127.0.0.1:${inst.port}/`).then((r) => (r.ok ? r.json() : undefined), () => undefined),
      20_000,
      'the container to answer',
    );
    expect(answer).toEqual({ port: '8080', instance: `${deployId}-1`, version: 'docker' });
    const c = await inspect(containerName(`${deployId}-1`));
    expect(c.body.NetworkSettings?.Ports?.['8080/tcp']).toEqual([{ HostIp: '127.0.0.1', HostPort: String(inst.port) }]);
    expect(c.body.Config?.Labels).toMatchObject({ [Attr.instanceLabel]: `${deployId}-1`, [Attr.deployLabel]: deployId, [Attr.environmentLabel]: 'dock' });

    // what a restarted deployer sees
    const adopted = await runtime.adopt({ instanceId: `${deployId}-1`, deployId, pid: inst.pid, port: inst.port });
    expect(adopted).toMatchObject({ instanceId: `${deployId}-1`, port: inst.port });
    expect(await runtime.strays(new Set([deployId]))).toEqual([{ instanceId: `${deployId}-1`, deployId, pid: 0 }]);
    expect(await runtime.strays(new Set(['d-someone-else']))).toEqual([]);

    const ended = new Promise<string>((r) => inst.onExit(r));
    await inst.stop(1000);
    await ended;
    expect((await inspect(containerName(`${deployId}-1`))).status).toBe(404);
    expect(await runtime.adopt({ instanceId: `${deployId}-1`, deployId, pid: inst.pid, port: inst.port })).toBeNull();
  }, 120_000);

  it('notices a container that exits, with its last output; keeps the output in the log file', async () => {
    if (!available) {
      console.log(`skipped: ${reason}`);
      return;
    }
    const inst = await start(2, 'sleep 1; echo about to fail; echo boom >&2; exit 3');
    const why = await new Promise<string>((r) => inst.onExit(r));
    expect(why).toBe('exited with code 3 (last output: about to fail | boom)');
    expect(readFileSync(join(tmp, `${deployId}-2.log`), 'utf8')).toBe('about to fail\nboom\n');
    expect((await inspect(containerName(`${deployId}-2`))).status).toBe(404);
  }, 120_000);

  it('a deploy with an image warms its containers and the edge serves them', async () => {
    if (!available) {
      console.log(`skipped: ${reason}`);
      return;
    }
    const bed = await DeployTestbed.create({ runtimes: { process: new ProcessRuntime(), docker: runtime } });
    try {
      const { deployId: id, finished } = await bed.deploy({ environment: 'dock', version: 'docker', image, start: server(1500), instances: 2 });
      expect(await finished).toMatchObject({ status: 'live', instances: [{ status: 'warm' }, { status: 'warm' }] });
      expect(await edgeGet(bed.edgePort, 'dock', '/')).toMatchObject({ status: 200, version: 'docker' });
      expect((await inspect(containerName(`${id}-1`))).body.State.Running).toBe(true);
    } finally {
      await bed.close();
    }
  }, 180_000);
});

describe('a deploy with an image on a deployer without a Docker engine', () => {
  let bed: DeployTestbed;
  const socket = join(tmpdir(), `kiln-no-docker-${process.pid}.sock`);
  beforeAll(async () => {
    bed = await DeployTestbed.create({ runtimes: { process: new ProcessRuntime(), docker: new DockerRuntime(new DockerApi(socket)) } });
  });
  afterAll(async () => {
    await bed.close();
  });

  it('fails at once, saying no engine answers, and starts nothing', async () => {
    const { deployId, finished } = await bed.deploy({ environment: 'nodocker', version: 'x', image: 'ghcr.io/acme/app:1', start: null });
    const final = await finished;
    expect(final).toMatchObject({ status: 'failed', reason: `deploy.image (ghcr.io/acme/app:1) needs a Docker engine, and none answers at unix://${socket} (set DOCKER_HOST)` });
    expect((await bed.events(deployId)).map((e) => e.type)).toEqual(['DeployStarted', 'DeployFailed']);
  });

  it('fails the same way on a deployer started without the docker runtime', async () => {
    const plain = await DeployTestbed.create();
    try {
      const { finished } = await plain.deploy({ environment: 'nodocker', version: 'x', image: 'ghcr.io/acme/app:1', start: null });
      expect(await finished).toMatchObject({ status: 'failed', reason: 'deploy.image (ghcr.io/acme/app:1) needs the docker runtime, which this deployer was started without' });
    } finally {
      await plain.close();
    }
  });
});
