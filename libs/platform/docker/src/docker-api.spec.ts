import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerApi, DockerUnreachableError, imageReference, messageOf, parseDockerHost, progressError } from './docker-api';

describe('DOCKER_HOST addresses', () => {
  it('reads unix sockets, bare paths and plain TCP', () => {
    expect(parseDockerHost('unix:///var/run/docker.sock')).toEqual({ socketPath: '/var/run/docker.sock' });
    expect(parseDockerHost('/run/user/1000/docker.sock')).toEqual({ socketPath: '/run/user/1000/docker.sock' });
    expect(parseDockerHost('tcp://127.0.0.1:2375')).toEqual({ host: '127.0.0.1', port: 2375 });
    expect(parseDockerHost('http://docker.internal:2375/')).toEqual({ host: 'docker.internal', port: 2375 });
    expect(parseDockerHost('tcp://[::1]:2375')).toEqual({ host: '::1', port: 2375 });
  });

  it('rejects what it cannot reach, naming the variable', () => {
    expect(() => parseDockerHost('ssh://me@host')).toThrow('DOCKER_HOST="ssh://me@host" is not unix:///path, /path or tcp://host:port');
    expect(() => parseDockerHost('tcp://host')).toThrow(/is not/);
  });

  it('formats the address back for messages', () => {
    expect(new DockerApi('/var/run/docker.sock').address).toBe('unix:///var/run/docker.sock');
    expect(new DockerApi('tcp://10.0.0.1:2375').address).toBe('tcp://10.0.0.1:2375');
  });
});

describe('image references', () => {
  it.each([
    ['nginx', 'nginx', 'latest'],
    ['nginx:1.27', 'nginx', '1.27'],
    ['ghcr.io/acme/app:1', 'ghcr.io/acme/app', '1'],
    ['localhost:5000/app', 'localhost:5000/app', 'latest'],
    ['localhost:5000/app:2', 'localhost:5000/app', '2'],
    ['app@sha256:abc123', 'app', 'sha256:abc123'],
  ])('%s → %s %s', (image, fromImage, tag) => {
    expect(imageReference(image)).toEqual({ fromImage, tag });
  });
});

describe('engine answers', () => {
  it('finds the error in a pull progress stream', () => {
    const stream = '{"status":"Pulling from library/x"}\n{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}\n';
    expect(progressError(stream)).toBe('manifest unknown');
    expect(progressError('{"status":"Downloaded newer image"}\n')).toBeNull();
  });

  it('reads the message of an error body', () => {
    expect(messageOf({ message: 'No such container: kiln-x' })).toBe('No such container: kiln-x');
    expect(messageOf('{"message":"conflict"}')).toBe('conflict');
    expect(messageOf('plain text\n')).toBe('plain text');
  });
});

/** A stand-in engine on a unix socket: answers what the test says, records what it was asked. */
describe('DockerApi over a unix socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-docker-api-'));
  const socket = join(dir, 'engine.sock');
  const seen: { method: string; url: string; body: string }[] = [];
  let handler: (req: IncomingMessage, res: ServerResponse, body: string) => void = (_q, res) => res.end();
  let server: Server;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, body });
        handler(req, res, body);
      });
    });
    await new Promise<void>((r) => server.listen(socket, r));
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends JSON to the versioned path and parses the answer', async () => {
    handler = (_q, res) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end('{"Id":"abc","Warnings":[]}');
    };
    const r = await new DockerApi(`unix://${socket}`).call<{ Id: string }>('POST', '/containers/create?name=kiln-x', { Image: 'app:1' });
    expect(r).toEqual({ status: 201, body: { Id: 'abc', Warnings: [] } });
    expect(seen[seen.length - 1]).toEqual({ method: 'POST', url: '/v1.41/containers/create?name=kiln-x', body: '{"Image":"app:1"}' });
  });

  it('pulls an image and reports the error the stream carries', async () => {
    handler = (_q, res) => {
      res.writeHead(200);
      res.end('{"status":"Pulling"}\n{"error":"pull access denied for nope"}\n');
    };
    await expect(new DockerApi(socket).pull('nope:1')).rejects.toThrow('cannot pull nope:1: pull access denied for nope');
    expect(seen[seen.length - 1].url).toBe('/v1.41/images/create?fromImage=nope&tag=1');
  });

  it('gives up on an engine that does not answer in time', async () => {
    handler = () => undefined; // never answers
    await expect(new DockerApi(socket).call('GET', '/containers/json', undefined, { timeoutMs: 200 })).rejects.toThrow(DockerUnreachableError);
    expect(await new DockerApi(socket).ping(200)).toBe(false);
  });

  it('says plainly when nothing listens', async () => {
    const api = new DockerApi(join(dir, 'nobody.sock'));
    expect(await api.ping()).toBe(false);
    await expect(api.call('GET', '/_ping')).rejects.toThrow(`no Docker engine answers at unix://${join(dir, 'nobody.sock')}`);
  });
});
