import { z } from 'zod';
import { BuildEventDefinitions, BuildStatuses, DeployEventDefinitions, Providers } from '@kiln/contracts';
import { CreateToken } from '../auth/tokens.controller';
import { CancelBuild, ListQuery, TriggerBuild } from '../builds/builds.controller';
import { SetSecret } from '../projects/project-secrets.controller';
import { ChangeSettings, CreateProject, RotateWebhookSecret } from '../projects/projects.controller';

type Json = Record<string, unknown>;

const jsonSchema = (s: z.ZodType): Json => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Json;

const ErrorShape: Json = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'machine-readable code: invalid, unauthorized, forbidden, not_found, illegal_state, concurrency, payload_too_large, rate_limited (with Retry-After), bad_gateway, unavailable, internal' },
    message: { type: 'string', description: 'what went wrong, for a person' },
    details: { description: 'field errors and other detail, when there are any' },
  },
};

const Step: Json = {
  type: 'object',
  properties: {
    index: { type: 'integer' },
    name: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled'] },
    exitCode: { type: ['integer', 'null'] },
    startedAt: { type: ['string', 'null'], format: 'date-time' },
    finishedAt: { type: ['string', 'null'], format: 'date-time' },
    durationMs: { type: ['number', 'null'] },
  },
};

const Build: Json = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    projectId: { type: 'string' },
    status: { type: 'string', enum: [...BuildStatuses] },
    trigger: { type: 'string', enum: ['push', 'manual', 'retry'] },
    attempt: { type: 'integer' },
    workerId: { type: ['string', 'null'] },
    source: {
      type: 'object',
      properties: { repoUrl: { type: 'string' }, ref: { type: 'string' }, sha: { type: ['string', 'null'] }, branch: { type: ['string', 'null'] }, author: { type: ['string', 'null'] }, message: { type: ['string', 'null'] } },
    },
    reason: { type: ['string', 'null'] },
    exitCode: { type: ['integer', 'null'] },
    requestedAt: { type: 'string', format: 'date-time' },
    startedAt: { type: ['string', 'null'], format: 'date-time' },
    finishedAt: { type: ['string', 'null'], format: 'date-time' },
    steps: { type: 'array', items: { $ref: '#/components/schemas/Step' } },
  },
};

const Project: Json = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    repoUrl: { type: 'string' },
    provider: { type: 'string', enum: [...Providers] },
    branches: { type: ['array', 'null'], items: { type: 'string' } },
    concurrency: { type: 'integer' },
    createdAt: { type: 'string', format: 'date-time' },
  },
};

const LogLine: Json = {
  type: 'object',
  properties: {
    cursor: { type: 'string', description: '`<sequence>-<index>`; pass as `cursor` (or SSE Last-Event-ID) to resume after this line' },
    n: { type: 'integer' },
    t: { type: 'number', description: 'epoch milliseconds' },
    stream: { type: 'string', enum: ['stdout', 'stderr', 'system'] },
    step: { type: ['integer', 'null'] },
    text: { type: 'string' },
    attempt: { type: 'integer' },
  },
};

const ok = (description: string, schema?: Json) => ({ description, ...(schema ? { content: { 'application/json': { schema } } } : {}) });
const errors = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [String(c), { description: ({ 400: 'invalid input', 401: 'missing or invalid token', 403: 'the token\'s scope does not allow it (read tokens: GET only)', 404: 'not found', 409: 'not allowed in the current state', 413: 'body over 5 MiB', 503: 'broker unavailable; retry' } as Record<number, string>)[c], content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }]));
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const idParam = (name: string, what: string) => ({ name, in: 'path', required: true, schema: { type: 'string' }, description: what });
const body = (s: z.ZodType) => ({ required: true, content: { 'application/json': { schema: jsonSchema(s) } } });

function queryParams(s: z.ZodObject<z.ZodRawShape>) {
  const schema = jsonSchema(s) as { properties?: Record<string, Json> };
  return Object.entries(schema.properties ?? {}).map(([name, p]) => ({ name, in: 'query', required: false, schema: p }));
}

/**
 * The OpenAPI 3.1 document of Kiln's REST API, generated from the same zod schemas the
 * controllers validate with (one source of truth for bodies and queries).
 */
export function openApiDocument(serverUrl: string): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Kiln API',
      version: '1',
      description:
        'Self-hosted, event-sourced CI/CD. Every `/api/*` call needs `Authorization: Bearer <token>`. Errors are `{ error, message, details? }`. Lists page by cursor: pass `nextCursor` back as `cursor`.',
    },
    servers: [{ url: serverUrl }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: ErrorShape, Build, Step, Project, LogLine },
    },
    paths: {
      '/api/projects': {
        post: { summary: 'Create a project', requestBody: body(CreateProject), responses: { '201': ok('the project, with the webhook URL and secret to paste into the git host'), ...errors(400, 401) } },
        get: { summary: 'List projects', responses: { '200': ok('projects', { type: 'object', properties: { items: { type: 'array', items: ref('Project') } } }), ...errors(401) } },
      },
      '/api/projects/{id}': {
        get: { summary: 'A project', parameters: [idParam('id', 'project id')], responses: { '200': ok('the project', ref('Project')), ...errors(401, 404) } },
        patch: { summary: 'Change concurrency, branch filters or auto-cancel', parameters: [idParam('id', 'project id')], requestBody: body(ChangeSettings), responses: { '200': ok('the project', ref('Project')), ...errors(400, 401, 404) } },
        delete: {
          summary: 'Delete a project (admin)',
          description: 'Its webhooks are refused (404) from then on, its queued and running builds are cancelled, it leaves the lists; its build history stays readable and its cache entries are evicted. Deleting it again: 404.',
          parameters: [idParam('id', 'project id')],
          responses: { '204': ok('deleted'), ...errors(401, 404) },
        },
      },
      '/api/projects/{id}/webhook-secret/rotate': {
        post: {
          summary: 'Rotate the webhook secret (admin)',
          description: 'A new secret (generated, or `secret` from the body) replaces the current one at once; the replaced one is still accepted for `graceSeconds` (default `KILN_WEBHOOK_SECRET_GRACE`, 1 h) so deliveries in flight are not lost. The answer carries the new secret, once.',
          parameters: [idParam('id', 'project id')],
          requestBody: { ...body(RotateWebhookSecret), required: false },
          responses: {
            '200': ok('the webhook URL and new secret to paste into the git host', {
              type: 'object',
              properties: {
                id: { type: 'string' },
                rotatedAt: { type: 'string', format: 'date-time' },
                previousSecretValidUntil: { type: ['string', 'null'], format: 'date-time' },
                webhook: { type: 'object', properties: { url: { type: 'string' }, secret: { type: 'string' }, contentType: { type: 'string' }, events: { type: 'array', items: { type: 'string' } } } },
              },
            }),
            ...errors(400, 401, 404),
          },
        },
      },
      '/api/projects/{id}/builds': {
        get: {
          summary: "A project's builds, newest first",
          parameters: [idParam('id', 'project id'), ...queryParams(ListQuery)],
          responses: { '200': ok('a page of builds', { type: 'object', properties: { items: { type: 'array', items: ref('Build') }, nextCursor: { type: ['string', 'null'] } } }), ...errors(400, 401) },
        },
        post: { summary: 'Trigger a build by ref or sha', parameters: [idParam('id', 'project id')], requestBody: body(TriggerBuild), responses: { '202': ok('accepted', { type: 'object', properties: { buildId: { type: 'string' } } }), ...errors(400, 401, 404) } },
      },
      '/api/projects/{id}/caches': {
        get: { summary: "A project's build-cache entries (size, last use, hits)", parameters: [idParam('id', 'project id')], responses: { '200': ok('entries'), ...errors(401) } },
      },
      '/api/projects/{id}/caches/{key}': {
        delete: { summary: 'Evict a cache entry', parameters: [idParam('id', 'project id'), idParam('key', 'cache key')], responses: { '200': ok('evicted'), ...errors(401, 404) } },
      },
      '/api/projects/{id}/secrets': {
        get: {
          summary: "A project's secrets: names and times, never a value",
          parameters: [idParam('id', 'project id')],
          responses: { '200': ok('`{ items: [{ name, updatedAt }] }`, by name'), ...errors(401, 404) },
        },
      },
      '/api/projects/{id}/secrets/{name}': {
        put: {
          summary: 'Set a secret (write-only; admin)',
          description: 'Stored encrypted with `KILN_SECRET_KEY`; builds started afterwards get it as an environment variable, masked in their logs. The value is never returned.',
          parameters: [idParam('id', 'project id'), idParam('name', 'an environment variable name')],
          requestBody: body(SetSecret),
          responses: { '200': ok('`{ name, updatedAt }`'), ...errors(400, 401, 403, 404) },
        },
        delete: { summary: 'Remove a secret (admin)', parameters: [idParam('id', 'project id'), idParam('name', 'secret name')], responses: { '204': ok('removed'), ...errors(400, 401, 403, 404) } },
      },
      '/api/tokens': {
        post: {
          summary: 'Create an API token (admin)',
          description: 'Only its SHA-256 is stored: the answer carries the token once. Scope `read` allows GET only; `admin` everything.',
          requestBody: body(CreateToken),
          responses: {
            '201': ok('the token, shown once', { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' }, scope: { type: 'string', enum: ['read', 'admin'] }, createdAt: { type: 'string', format: 'date-time' }, token: { type: 'string' } } }),
            ...errors(400, 401, 403),
          },
        },
        get: { summary: 'List API tokens (admin); never the token itself', responses: { '200': ok('`{ items: [{ id, name, scope, createdAt, revokedAt }] }`'), ...errors(401, 403) } },
      },
      '/api/tokens/{id}': { delete: { summary: 'Revoke an API token (admin); it is refused at once', parameters: [idParam('id', 'token id')], responses: { '200': ok('`{ revoked: id }`'), ...errors(401, 403, 404) } } },
      '/api/builds/{id}': { get: { summary: 'A build, folded from its events', parameters: [idParam('id', 'build id')], responses: { '200': ok('the build', ref('Build')), ...errors(401, 404) } } },
      '/api/builds/{id}/events': {
        get: {
          summary: "A build's events in order",
          description: `Event types: ${BuildEventDefinitions.map((d) => `${d.type} v${d.version}`).join(', ')}. See the event catalog for their schemas.`,
          parameters: [idParam('id', 'build id')],
          responses: { '200': ok('events'), ...errors(401, 404) },
        },
      },
      '/api/builds/{id}/cancel': { post: { summary: 'Cancel a build (queued: at once; running: its processes are killed)', parameters: [idParam('id', 'build id')], requestBody: { ...body(CancelBuild), required: false }, responses: { '202': ok('the build', ref('Build')), ...errors(400, 401, 404, 409) } } },
      '/api/builds/{id}/retry': { post: { summary: 'Build the same commit again (a new build)', parameters: [idParam('id', 'build id')], responses: { '202': ok('accepted', { type: 'object', properties: { buildId: { type: 'string' } } }), ...errors(401, 404) } } },
      '/api/builds/{id}/logs': {
        get: {
          summary: 'Log history by cursor',
          parameters: [idParam('id', 'build id'), { name: 'cursor', in: 'query', schema: { type: 'string' } }, { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 5000 } }, { name: 'step', in: 'query', schema: { type: 'integer' } }],
          responses: { '200': ok('a page of lines', { type: 'object', properties: { items: { type: 'array', items: ref('LogLine') }, nextCursor: { type: ['string', 'null'] }, complete: { type: 'boolean' }, status: { type: 'string' } } }), ...errors(400, 401) },
        },
      },
      '/api/builds/{id}/logs/stream': {
        get: {
          summary: 'Live log (Server-Sent Events): `event: line` per line (id = cursor), `event: end` with the result; resumes from Last-Event-ID',
          parameters: [idParam('id', 'build id'), { name: 'cursor', in: 'query', schema: { type: 'string' } }, { name: 'Last-Event-ID', in: 'header', schema: { type: 'string' } }],
          responses: { '200': { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, ...errors(400, 401) },
        },
      },
      '/api/builds/{id}/logs/raw': { get: { summary: 'The log as plain text', parameters: [idParam('id', 'build id')], responses: { '200': { description: 'text/plain', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errors(401) } } },
      '/api/builds/{id}/deploys': { get: { summary: "A build's deploy (none when its pipeline has no `deploy` section)", parameters: [idParam('id', 'build id')], responses: { '200': ok('`{ items }`: the deploy with status deploying|live|failed|rolled_back and its instances'), ...errors(401, 404) } } },
      '/api/deploys/{id}': { get: { summary: 'A deploy, folded from its events', parameters: [idParam('id', 'deploy id')], responses: { '200': ok('the deploy'), ...errors(401, 404) } } },
      '/api/deploys/{id}/events': {
        get: {
          summary: "A deploy's events in order",
          description: `Event types: ${DeployEventDefinitions.map((d) => `${d.type} v${d.version}`).join(', ')}.`,
          parameters: [idParam('id', 'deploy id')],
          responses: { '200': ok('events'), ...errors(401, 404) },
        },
      },
      '/api/pool': { get: { summary: 'Workers by status', responses: { '200': ok('the pool'), ...errors(401) } } },
      '/webhooks/github': { post: { summary: 'GitHub webhook (push, ping); authenticated by X-Hub-Signature-256', security: [], responses: { '202': ok('build requested or event ignored'), '200': ok('ping answered'), ...errors(400, 401, 404, 413) } } },
      '/webhooks/gitlab': { post: { summary: 'GitLab webhook (Push Hook, Tag Push Hook); authenticated by X-Gitlab-Token', security: [], responses: { '202': ok('build requested or event ignored'), ...errors(400, 401, 404, 413) } } },
    },
  };
}
