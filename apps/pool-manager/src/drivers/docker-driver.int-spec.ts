import { Logger } from '@kiln/telemetry';
import { DockerApi } from '@kiln/docker';
import { DockerDriver } from './docker-driver';

const socket = process.env.DOCKER_SOCKET || '/var/run/docker.sock';
const image = process.env.KILN_POOL_DOCKER_IMAGE || 'kiln:latest';

describe('DockerDriver (needs a Docker engine and the kiln image)', () => {
  let available = false;
  let reason = '';
  beforeAll(async () => {
    const api = new DockerApi(socket);
    if (!(await api.ping())) {
      reason = `no Docker engine answers on ${socket}`;
      return;
    }
    const img = await api.call('GET', `/images/${encodeURIComponent(image)}/json`);
    if (img.status !== 200) {
      reason = `image ${image} not found (docker build -t ${image} .)`;
      return;
    }
    available = true;
  });

  it('starts an agent container labelled with its worker id and stops it', async () => {
    if (!available) {
      console.log(`skipped: ${reason}`);
      return;
    }
    const api = new DockerApi(socket);
    const driver = new DockerDriver(api, image, new Logger('test'), { NATS_URL: 'nats://127.0.0.1:4222' }, 'host');
    const exited = new Promise<string>((r) => driver.onExit((_id, detail) => r(detail)));
    await driver.start('w-docker-test');
    const list = await api.call<{ Labels: Record<string, string> }[]>('GET', `/containers/json?filters=${encodeURIComponent(JSON.stringify({ label: ['kiln.worker=w-docker-test'] }))}`);
    expect(list.body.length).toBe(1);
    await driver.stop('w-docker-test');
    expect(await exited).toMatch(/exited/);
  });
});

describe('DockerApi without an engine', () => {
  it('answers ping false on a socket nobody listens on', async () => {
    expect(await new DockerApi('/tmp/kiln-no-docker.sock').ping()).toBe(false);
  });
});
