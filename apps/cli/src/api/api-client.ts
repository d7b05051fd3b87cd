import { ApiError, NetworkError } from '../errors';
import type { BuildPage, BuildView, CreatedProject, CreateProjectBody, ErrorBody, LogPage, ProjectView, RotatedWebhookSecret } from './wire';

export interface ApiClientOptions {
  /** Base URL of the gateway (no trailing slash, no `/api`). */
  baseUrl: string;
  token: string;
  /** Per-request timeout for ordinary calls (not streams); default 30 s. */
  timeoutMs?: number;
  /** For tests; default the global fetch. */
  fetch?: typeof fetch;
}

type Query = Record<string, string | number | undefined | null>;

/**
 * A thin typed client of Kiln's REST API. Every non-2xx answer becomes an {@link ApiError}
 * carrying the API's `{ error, message, details? }`; a failure to connect a {@link NetworkError}.
 */
export class ApiClient {
  readonly baseUrl: string;
  private readonly token: string;
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;

  constructor(opts: ApiClientOptions) {
    this.baseUrl = opts.baseUrl;
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.fetchFn = opts.fetch ?? fetch;
  }

  listProjects(): Promise<{ items: ProjectView[] }> {
    return this.request('GET', '/api/projects');
  }

  getProject(id: string): Promise<ProjectView> {
    return this.request('GET', `/api/projects/${enc(id)}`);
  }

  createProject(body: CreateProjectBody): Promise<CreatedProject> {
    return this.request('POST', '/api/projects', { body });
  }

  /** Deletes a project (204: resolves to nothing). */
  async deleteProject(id: string): Promise<void> {
    await this.request('DELETE', `/api/projects/${enc(id)}`);
  }

  rotateWebhookSecret(id: string, body: { secret?: string; graceSeconds?: number }): Promise<RotatedWebhookSecret> {
    return this.request('POST', `/api/projects/${enc(id)}/webhook-secret/rotate`, { body });
  }

  listBuilds(projectId: string, q: { status?: string; branch?: string; limit?: number; cursor?: string } = {}): Promise<BuildPage> {
    return this.request('GET', `/api/projects/${enc(projectId)}/builds`, { query: q });
  }

  triggerBuild(projectId: string, body: { ref?: string; sha?: string }): Promise<{ buildId: string }> {
    return this.request('POST', `/api/projects/${enc(projectId)}/builds`, { body });
  }

  getBuild(id: string): Promise<BuildView> {
    return this.request('GET', `/api/builds/${enc(id)}`);
  }

  cancelBuild(id: string, reason?: string): Promise<BuildView> {
    return this.request('POST', `/api/builds/${enc(id)}/cancel`, { body: reason ? { reason } : {} });
  }

  logPage(id: string, q: { cursor?: string | null; limit?: number } = {}): Promise<LogPage> {
    return this.request('GET', `/api/builds/${enc(id)}/logs`, { query: q });
  }

  /**
   * Opens the build's live log (`text/event-stream`), resuming after `lastEventId` when
   * given. Resolves once the headers arrived; the caller reads and closes the body.
   */
  async openLogStream(id: string, lastEventId: string | null, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (lastEventId) headers['last-event-id'] = lastEventId;
    const res = await this.send('GET', `/api/builds/${enc(id)}/logs/stream`, { headers, signal });
    if (!res.ok) throw await errorOf(res);
    if (!res.body) throw new ApiError(res.status, 'bad_response', 'the log stream answered without a body');
    return res;
  }

  /** One JSON call; the parsed body on 2xx, else an ApiError. */
  async request<T>(method: string, path: string, opts: { query?: Query; body?: unknown } = {}): Promise<T> {
    const res = await this.send(method, path + queryString(opts.query), {
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      headers: opts.body === undefined ? {} : { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) throw await errorOf(res);
    const text = await res.text().catch((e: unknown) => {
      throw new NetworkError(this.baseUrl, e);
    });
    if (res.status === 204) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(res.status, 'bad_response', `${method} ${path} answered ${res.status} with a body that is not JSON: ${snippet(text)}`);
    }
  }

  private async send(method: string, path: string, init: { body?: string; headers: Record<string, string>; signal: AbortSignal }): Promise<Response> {
    try {
      return await this.fetchFn(this.baseUrl + path, {
        method,
        body: init.body,
        signal: init.signal,
        headers: { authorization: `Bearer ${this.token}`, 'user-agent': 'kiln-cli', ...init.headers },
      });
    } catch (e) {
      throw new NetworkError(this.baseUrl, e);
    }
  }
}

/** The ApiError of a non-2xx answer: the API's JSON error body, or the text it sent instead. */
export async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as Partial<ErrorBody>;
    if (body && typeof body.message === 'string') {
      return new ApiError(res.status, typeof body.error === 'string' ? body.error : `http_${res.status}`, body.message, body.details);
    }
  } catch {
    /* not JSON: fall through */
  }
  return new ApiError(res.status, `http_${res.status}`, text.trim() ? snippet(text) : res.statusText || `HTTP ${res.status}`);
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

function queryString(q: Query | undefined): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

function snippet(text: string): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > 200 ? `${one.slice(0, 200)}…` : one;
}
