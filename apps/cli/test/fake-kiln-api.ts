import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { BuildView, LogLineView, ProjectView } from '../src/api/wire';

/**
 * An HTTP fake of the Kiln API routes the CLI uses (same paths, bodies, error shape and
 * SSE framing as apps/api and apps/log-store), for testing the CLI as a unit of behaviour.
 * Tests shape its state directly and can make the log stream drop a connection mid-event.
 */
export class FakeKilnApi {
  readonly token = 'fake-token';
  readonly projects: ProjectView[] = [];
  readonly builds = new Map<string, BuildView>();
  readonly requests: { method: string; path: string; query: URLSearchParams; headers: IncomingMessage['headers']; body: unknown }[] = [];
  /** `Last-Event-ID` (or null) of each log-stream connection, in order. */
  readonly streamConnections: { buildId: string; lastEventId: string | null }[] = [];
  /** Drop the first log-stream connection of a build after this many line events, mid-frame. */
  dropStreamAfter = new Map<string, number>();
  /** Answer this many log-stream connections of a build with 502 (log-store down) first. */
  streamFailures = new Map<string, number>();
  /** Log-stream reconnections (not the first) of these builds get headers, then nothing (a stalled proxy). */
  streamStalled = new Set<string>();
  /** Called after a manual trigger created its (queued) build. */
  onTrigger?: (build: BuildView) => void;

  private readonly logs = new Map<string, { lines: LogLineView[]; end: string | null; watchers: Set<() => void> }>();
  private server?: Server;
  url = '';

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  addProject(p: Partial<ProjectView> & { name: string }): ProjectView {
    const project: ProjectView = { id: randomUUID(), repoUrl: `https://git.example/${p.name}.git`, provider: 'github', branches: null, concurrency: 6, createdAt: new Date().toISOString(), ...p };
    this.projects.push(project);
    return project;
  }

  addBuild(projectId: string, b: Partial<BuildView> = {}): BuildView {
    const id = b.id ?? randomUUID();
    const build: BuildView = {
      id,
      projectId,
      status: 'queued',
      trigger: 'push',
      attempt: 1,
      workerId: null,
      source: { repoUrl: 'https://git.example/app.git', ref: 'refs/heads/main', sha: 'abcdef1234567890abcdef1234567890abcdef12', branch: 'main', author: 'Ada', message: 'fix the thing\n\nlong body' },
      cancelRequested: false,
      reason: null,
      exitCode: null,
      requestedAt: '2025-01-01T10:00:00.000Z',
      queuedAt: '2025-01-01T10:00:00.100Z',
      startedAt: null,
      finishedAt: null,
      steps: [],
      ...b,
    };
    this.builds.set(id, build);
    return build;
  }

  update(buildId: string, patch: Partial<BuildView>): void {
    this.builds.set(buildId, { ...this.builds.get(buildId)!, ...patch });
  }

  /** Appends lines (`[stream, text, step?]`), three per chunk, and wakes live streams. */
  appendLog(buildId: string, lines: [LogLineView['stream'], string, (number | null)?][]): void {
    const log = this.log(buildId);
    for (const [stream, text, step] of lines) {
      const i = log.lines.length;
      log.lines.push({ cursor: `${Math.floor(i / 3) + 1}-${i % 3}`, n: i + 1, t: 1_700_000_000_000 + i, stream, step: step ?? null, text, attempt: 1 });
    }
    for (const w of log.watchers) w();
  }

  /** Writes the log's end record. */
  endLog(buildId: string, status: string): void {
    const log = this.log(buildId);
    log.end = status;
    for (const w of log.watchers) w();
  }

  logLines(buildId: string): LogLineView[] {
    return this.log(buildId).lines;
  }

  private log(buildId: string) {
    let l = this.logs.get(buildId);
    if (!l) this.logs.set(buildId, (l = { lines: [], end: null, watchers: new Set() }));
    return l;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        return json(res, 400, { error: 'invalid', message: 'malformed JSON body' });
      }
    }
    this.requests.push({ method: req.method!, path: url.pathname, query: url.searchParams, headers: req.headers, body });
    if (req.headers.authorization !== `Bearer ${this.token}`) return json(res, 401, { error: 'unauthorized', message: 'missing or invalid bearer token' });
    const route = `${req.method} ${url.pathname}`;
    let m: RegExpExecArray | null;
    if (route === 'GET /api/projects') return json(res, 200, { items: this.projects });
    if (route === 'POST /api/projects') return this.createProject(res, body as Record<string, unknown>);
    if ((m = /^GET \/api\/projects\/([^/]+)$/.exec(route))) {
      const p = this.projects.find((x) => x.id === m![1]);
      return p ? json(res, 200, p) : json(res, 404, { error: 'not_found', message: `project ${m[1]} not found` });
    }
    if ((m = /^DELETE \/api\/projects\/([^/]+)$/.exec(route))) {
      const i = this.projects.findIndex((x) => x.id === m![1]);
      if (i < 0) return json(res, 404, { error: 'not_found', message: `project ${m[1]} not found` });
      this.projects.splice(i, 1);
      res.writeHead(204);
      res.end();
      return;
    }
    if ((m = /^POST \/api\/projects\/([^/]+)\/webhook-secret\/rotate$/.exec(route))) {
      const p = this.projects.find((x) => x.id === m![1]);
      if (!p) return json(res, 404, { error: 'not_found', message: `project ${m[1]} not found` });
      const b = (body ?? {}) as { secret?: string; graceSeconds?: number };
      const rotatedAt = new Date().toISOString();
      const grace = b.graceSeconds ?? 3600;
      return json(res, 200, {
        id: p.id,
        rotatedAt,
        previousSecretValidUntil: grace > 0 ? new Date(Date.parse(rotatedAt) + grace * 1000).toISOString() : null,
        webhook: { url: `${this.url}/webhooks/${p.provider}`, secret: b.secret ?? 'generated-secret-0123456789abcdef', contentType: 'application/json', events: p.provider === 'github' ? ['push'] : ['Push Hook', 'Tag Push Hook'] },
      });
    }
    if ((m = /^GET \/api\/projects\/([^/]+)\/builds$/.exec(route))) return this.listBuilds(res, m[1], url.searchParams);
    if ((m = /^POST \/api\/projects\/([^/]+)\/builds$/.exec(route))) return this.trigger(res, m[1], (body ?? {}) as { ref?: string; sha?: string });
    if ((m = /^(GET|POST) \/api\/builds\/([^/]+)(\/cancel|\/logs|\/logs\/stream)?$/.exec(route))) {
      const build = this.builds.get(m[2]);
      if (!build) return json(res, 404, { error: 'not_found', message: `build ${m[2]} not found` });
      if (m[1] === 'GET' && !m[3]) return json(res, 200, build);
      if (m[1] === 'POST' && m[3] === '/cancel') return this.cancel(res, build);
      if (m[1] === 'GET' && m[3] === '/logs') return this.history(res, build.id, url.searchParams);
      if (m[1] === 'GET' && m[3] === '/logs/stream') return this.stream(req, res, build.id, url.searchParams);
    }
    json(res, 404, { error: 'not_found', message: `Cannot ${req.method} ${url.pathname}` });
  }

  private createProject(res: ServerResponse, b: Record<string, unknown>) {
    if (typeof b?.webhookSecret !== 'string' || b.webhookSecret.length < 8) {
      return json(res, 400, { error: 'invalid', message: 'invalid request body: webhookSecret: at least 8 characters', details: [{ path: 'webhookSecret', message: 'at least 8 characters' }] });
    }
    const p = this.addProject({ name: String(b.name), repoUrl: String(b.repoUrl), provider: b.provider as 'github', branches: (b.branches as string[]) ?? null, concurrency: (b.concurrency as number) ?? 6 });
    json(res, 201, { ...p, webhook: { url: `${this.url}/webhooks/${p.provider}`, secret: b.webhookSecret, contentType: 'application/json', events: p.provider === 'github' ? ['push'] : ['Push Hook', 'Tag Push Hook'] } });
  }

  private listBuilds(res: ServerResponse, projectId: string, q: URLSearchParams) {
    const limit = Number(q.get('limit') ?? 50);
    let items = [...this.builds.values()].filter((b) => b.projectId === projectId).reverse();
    if (q.get('status')) items = items.filter((b) => b.status === q.get('status'));
    if (q.get('branch')) items = items.filter((b) => b.source.branch === q.get('branch'));
    const cursor = q.get('cursor');
    if (cursor) items = items.slice(items.findIndex((b) => b.id === cursor) + 1);
    const page = items.slice(0, limit);
    json(res, 200, { items: page, nextCursor: items.length > limit ? page[page.length - 1].id : null });
  }

  private trigger(res: ServerResponse, projectId: string, b: { ref?: string; sha?: string }) {
    const project = this.projects.find((p) => p.id === projectId);
    if (!project) return json(res, 404, { error: 'not_found', message: `project ${projectId} not found` });
    const ref = b.ref ? (b.ref.startsWith('refs/') ? b.ref : `refs/heads/${b.ref}`) : 'refs/heads/main';
    const build = this.addBuild(projectId, {
      trigger: 'manual',
      requestedAt: new Date().toISOString(),
      source: { repoUrl: project.repoUrl, ref, sha: b.sha ?? null, branch: ref.replace('refs/heads/', ''), author: null, message: null },
    });
    json(res, 202, { buildId: build.id });
    this.onTrigger?.(build);
  }

  private cancel(res: ServerResponse, build: BuildView) {
    if (['succeeded', 'failed', 'cancelled', 'timed_out'].includes(build.status)) {
      return json(res, 409, { error: 'illegal_state', message: `CancelBuild: build ${build.id} already ${build.status}` });
    }
    const queued = build.status === 'queued';
    this.update(build.id, queued ? { status: 'cancelled', cancelRequested: true, reason: 'cancelled by user', finishedAt: new Date().toISOString() } : { cancelRequested: true });
    json(res, 202, this.builds.get(build.id));
  }

  private history(res: ServerResponse, buildId: string, q: URLSearchParams) {
    const log = this.log(buildId);
    const limit = Number(q.get('limit') ?? 1000);
    const cursor = q.get('cursor');
    const from = cursor ? log.lines.findIndex((l) => l.cursor === cursor) + 1 : 0;
    const items = log.lines.slice(from, from + limit);
    const complete = log.end !== null && from + items.length >= log.lines.length;
    json(res, 200, { items, nextCursor: items.length ? items[items.length - 1].cursor : null, complete, ...(complete ? { status: log.end } : {}) });
  }

  private stream(req: IncomingMessage, res: ServerResponse, buildId: string, q: URLSearchParams) {
    const lastEventId = (req.headers['last-event-id'] as string | undefined) ?? q.get('cursor') ?? null;
    const first = !this.streamConnections.some((c) => c.buildId === buildId);
    this.streamConnections.push({ buildId, lastEventId });
    const failures = this.streamFailures.get(buildId) ?? 0;
    if (failures > 0) {
      this.streamFailures.set(buildId, failures - 1);
      return json(res, 502, { error: 'bad_gateway', message: 'log-store did not answer: connect ECONNREFUSED' });
    }
    if (this.streamStalled.has(buildId) && !first) {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      res.write(': ping\n\n');
      return;
    }
    const log = this.log(buildId);
    let next = lastEventId ? log.lines.findIndex((l) => l.cursor === lastEventId) + 1 : 0;
    let sent = 0;
    const dropAfter = first ? this.dropStreamAfter.get(buildId) : undefined;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(': ping\n\n');
    const pump = () => {
      while (next < log.lines.length) {
        const line = log.lines[next];
        const frame = `id: ${line.cursor}\nevent: line\ndata: ${JSON.stringify(line)}\n\n`;
        if (dropAfter !== undefined && sent === dropAfter) {
          // half an event, then the connection dies: the client must not use the fragment
          res.write(frame.slice(0, Math.floor(frame.length / 2)));
          log.watchers.delete(pump);
          setTimeout(() => res.destroy(), 20);
          return;
        }
        res.write(frame);
        next++;
        sent++;
      }
      if (log.end !== null) {
        res.end(`event: end\ndata: ${JSON.stringify({ status: log.end })}\n\n`);
        log.watchers.delete(pump);
      }
    };
    log.watchers.add(pump);
    res.on('close', () => log.watchers.delete(pump));
    pump();
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}
