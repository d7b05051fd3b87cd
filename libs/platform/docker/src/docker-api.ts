import { request } from 'node:http';

/** Docker Engine API version Kiln speaks (Docker 20.10 and newer serve it). */
export const DOCKER_API_VERSION = 'v1.41';

/** Where a Docker engine listens: its unix socket, or a plain-HTTP TCP address. */
export type DockerEndpoint = { socketPath: string } | { host: string; port: number };

/** An answer of the engine: its status and its body (JSON parsed when it is JSON, else text). */
export interface DockerResponse<T> {
  status: number;
  body: T;
}

/** Options of one call. */
export interface DockerCallOptions {
  /** Longest the whole call may take (ms); 0: no limit (`/containers/{id}/wait`). Default 30 s. */
  timeoutMs?: number;
}

/** The engine did not answer (no socket, refused, timed out): not an error status of the API. */
export class DockerUnreachableError extends Error {
  override name = 'DockerUnreachableError';
  readonly code = 'docker_unreachable';
}

/**
 * Reads `DOCKER_HOST`-style addresses: `unix:///var/run/docker.sock`, a bare socket path,
 * `tcp://host:2375` or `http://host:2375` (plain HTTP; TLS endpoints are not supported).
 */
export function parseDockerHost(value: string): DockerEndpoint {
  const v = value.trim();
  if (v.startsWith('unix://')) return { socketPath: v.slice('unix://'.length) };
  if (v.startsWith('/')) return { socketPath: v };
  const m = /^(?:tcp|http):\/\/([^/:]+|\[[^\]]+\]):(\d+)\/?$/.exec(v);
  if (m) return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  throw new Error(`DOCKER_HOST="${value}" is not unix:///path, /path or tcp://host:port`);
}

/** An endpoint as users write it (`unix:///var/run/docker.sock`, `tcp://127.0.0.1:2375`). */
export function formatDockerEndpoint(e: DockerEndpoint): string {
  return 'socketPath' in e ? `unix://${e.socketPath}` : `tcp://${e.host}:${e.port}`;
}

/**
 * A minimal Docker Engine API client: plain HTTP over the engine's unix socket (or TCP), JSON
 * in and out, no dependency and no docker CLI. Errors of the API come back as statuses;
 * {@link DockerUnreachableError} means the engine did not answer at all.
 */
export class DockerApi {
  readonly endpoint: DockerEndpoint;

  /** @param where a `DOCKER_HOST`-style address (see {@link parseDockerHost}) or an endpoint */
  constructor(where: string | DockerEndpoint) {
    this.endpoint = typeof where === 'string' ? parseDockerHost(where) : where;
  }

  /** The endpoint as users write it, for messages. */
  get address(): string {
    return formatDockerEndpoint(this.endpoint);
  }

  call<T = unknown>(method: string, path: string, body?: unknown, opts: DockerCallOptions = {}): Promise<DockerResponse<T>> {
    return this.raw(method, path, body, opts).then(({ status, body: bytes }) => {
      const text = bytes.toString('utf8');
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        /* plain text */
      }
      return { status, body: parsed as T };
    });
  }

  /** Like {@link call}, with the body as bytes (container logs, progress streams). */
  raw(method: string, path: string, body?: unknown, opts: DockerCallOptions = {}): Promise<DockerResponse<Buffer>> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const target = 'socketPath' in this.endpoint ? { socketPath: this.endpoint.socketPath } : { host: this.endpoint.host, port: this.endpoint.port };
      let timer: NodeJS.Timeout | undefined;
      const req = request(
        {
          ...target,
          method,
          path: `/${DOCKER_API_VERSION}${path}`,
          headers: { host: 'docker', ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => {
            clearTimeout(timer);
            reject(new DockerUnreachableError(`docker ${method} ${path}: ${e.message}`, { cause: e }));
          });
          res.on('end', () => {
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
          });
        },
      );
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(new DockerUnreachableError(`no Docker engine answers at ${this.address} (${method} ${path}: ${e.message})`, { cause: e }));
      });
      if (timeoutMs > 0) timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      if (data) req.write(data);
      req.end();
    });
  }

  /** Whether an engine answers `/_ping` within `timeoutMs`. */
  async ping(timeoutMs = 3000): Promise<boolean> {
    try {
      return (await this.call('GET', '/_ping', undefined, { timeoutMs })).status === 200;
    } catch {
      return false;
    }
  }

  /**
   * Pulls an image (`POST /images/create`); resolves when the engine has it. The engine answers
   * 200 and then streams progress, so a failure shows as an `error` line in the stream.
   */
  async pull(image: string, timeoutMs = 10 * 60_000): Promise<void> {
    const { fromImage, tag } = imageReference(image);
    const r = await this.raw('POST', `/images/create?fromImage=${encodeURIComponent(fromImage)}&tag=${encodeURIComponent(tag)}`, undefined, { timeoutMs });
    const text = r.body.toString('utf8');
    const failure = r.status === 200 ? progressError(text) : messageOf(text) || `status ${r.status}`;
    if (failure) throw new Error(`cannot pull ${image}: ${failure}`);
  }
}

/** `fromImage` and `tag` of an image reference (`ghcr.io/acme/app:1`, `localhost:5000/app`, `app@sha256:…`). */
export function imageReference(image: string): { fromImage: string; tag: string } {
  const at = image.indexOf('@');
  if (at >= 0) return { fromImage: image.slice(0, at), tag: image.slice(at + 1) };
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  if (colon > slash) return { fromImage: image.slice(0, colon), tag: image.slice(colon + 1) };
  return { fromImage: image, tag: 'latest' };
}

/** The first `error` of a JSON-lines progress stream (`{"error":"..."}`), or null. */
export function progressError(stream: string): string | null {
  for (const line of stream.split('\n')) {
    if (!line.trim()) continue;
    try {
      const o = JSON.parse(line) as { error?: string; errorDetail?: { message?: string } };
      if (o.error || o.errorDetail?.message) return o.errorDetail?.message ?? o.error ?? null;
    } catch {
      /* not JSON: skip */
    }
  }
  return null;
}

/** The `message` of an API error body (`{"message":"No such container: x"}`), else the text itself. */
export function messageOf(body: unknown): string {
  if (body && typeof body === 'object' && 'message' in body) return String((body as { message: unknown }).message);
  if (typeof body === 'string') {
    try {
      return messageOf(JSON.parse(body));
    } catch {
      return body.trim();
    }
  }
  return '';
}
