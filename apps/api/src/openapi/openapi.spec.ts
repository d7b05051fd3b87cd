import 'reflect-metadata';
import { DynamicModule, RequestMethod, Type } from '@nestjs/common';
import { METHOD_METADATA, MODULE_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { AppModule } from '../app.module';
import { openApiDocument } from './openapi';

type Operation = { requestBody?: unknown; responses: Record<string, unknown> };
type Doc = { paths: Record<string, Record<string, Operation>> };

/** Every controller of a module and the modules it imports. */
function controllersOf(mod: Type | DynamicModule): Type[] {
  const type = 'module' in mod ? mod.module : mod;
  const own: Type[] = [...(Reflect.getMetadata(MODULE_METADATA.CONTROLLERS, type) ?? []), ...('module' in mod ? (mod.controllers ?? []) : [])];
  const imports: (Type | DynamicModule)[] = [...(Reflect.getMetadata(MODULE_METADATA.IMPORTS, type) ?? []), ...('module' in mod ? (mod.imports ?? []) : [])];
  return [...own, ...imports.flatMap((m) => controllersOf(m as Type | DynamicModule))];
}

const join = (...parts: string[]) => '/' + parts.map((p) => p.replace(/^\/|\/$/g, '')).filter(Boolean).join('/');

/** The api's own HTTP routes as `METHOD /path/{param}`, read from the Nest decorators. */
function routes(): string[] {
  const out: string[] = [];
  for (const ctrl of controllersOf(AppModule)) {
    const base: string = Reflect.getMetadata(PATH_METADATA, ctrl) ?? '';
    for (const name of Object.getOwnPropertyNames(ctrl.prototype)) {
      const handler = (ctrl.prototype as Record<string, unknown>)[name];
      if (typeof handler !== 'function' || name === 'constructor') continue;
      const path: string | undefined = Reflect.getMetadata(PATH_METADATA, handler);
      const method: RequestMethod | undefined = Reflect.getMetadata(METHOD_METADATA, handler);
      if (path === undefined || method === undefined) continue; // a message handler or a helper
      out.push(`${RequestMethod[method]} ${join(base, path).replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return out;
}

describe('the OpenAPI document', () => {
  const doc = openApiDocument('http://kiln.example') as unknown as Doc;
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));

  it('documents every /api route the controllers serve', () => {
    const served = routes().filter((r) => r.split(' ')[1].startsWith('/api/'));
    expect(served).toEqual(expect.arrayContaining(['POST /api/tokens', 'PUT /api/projects/{id}/secrets/{name}', 'GET /api/projects/{id}/builds']));
    expect(served.filter((r) => !documented.includes(r))).toEqual([]);
  });

  it('documents only routes that exist: a controller route, or one the gateway proxies (logs, webhooks)', () => {
    const served = new Set(routes());
    const proxied = /^(GET \/api\/builds\/\{id\}\/logs(\/stream|\/raw)?|POST \/webhooks\/(github|gitlab))$/;
    expect(documented.filter((r) => !served.has(r) && !proxied.test(r))).toEqual([]);
  });

  it('every /api operation names the 401 and the error shape; every body-taking one its 400', () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      if (!path.startsWith('/api/')) continue;
      for (const [method, op] of Object.entries(ops)) {
        expect({ op: `${method} ${path}`, has401: '401' in op.responses }).toEqual({ op: `${method} ${path}`, has401: true });
        if (op.requestBody) expect({ op: `${method} ${path}`, has400: '400' in op.responses }).toEqual({ op: `${method} ${path}`, has400: true });
        for (const [code, res] of Object.entries(op.responses)) {
          if (Number(code) >= 400) expect(res).toMatchObject({ content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
        }
      }
    }
  });
});
