import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HostCall {
  method: string;
  /** The raw request path, as sent (GitLab project paths stay `%2F`-encoded). */
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, string>;
  /** The status the fake answered with. */
  answered: number;
}

/**
 * A local stand-in for GitHub's and GitLab's commit-status APIs: every POST is recorded and
 * answered 201 unless `answer` says otherwise (e.g. 503 while a test has the host "down").
 * GitHub lives under `/gh`, GitLab under `/gl/api/v4`.
 */
export class FakeGitHost {
  readonly calls: HostCall[] = [];
  answer: (path: string, body: Record<string, string>) => { status: number; body?: unknown; headers?: Record<string, string> } = () => ({ status: 201 });
  private server?: Server;
  url = '';

  get githubApiUrl(): string {
    return `${this.url}/gh`;
  }

  get gitlabApiUrl(): string {
    return `${this.url}/gl/api/v4`;
  }

  async start(): Promise<void> {
    this.server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      let body: Record<string, string> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, string>;
      } catch {
        /* recorded as {} */
      }
      const a = this.answer(req.url ?? '', body);
      this.calls.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, answered: a.status });
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
      res.end(JSON.stringify(a.body ?? (a.status < 300 ? { id: this.calls.length, state: body.state } : { message: `fake host answered ${a.status}` })));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  /** Calls whose path ends with `/statuses/<sha>`. */
  forSha(sha: string): HostCall[] {
    return this.calls.filter((c) => c.path.endsWith(`/statuses/${sha}`));
  }
}
