import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCodec } from './builds/events';
import { deployCodec } from './deploys/events';
import { kilnNames } from './names';
import { projectCodec } from './projects/events';
import { workerCodec } from './workers/events';
import { eventCatalog, eventCatalogMarkdown } from './catalog';

describe('event catalog', () => {
  it('lists every build event type with a schema and an example its codec accepts', () => {
    const c = eventCatalog();
    const builds = c.aggregates.find((a) => a.name === 'Builds')!;
    expect(builds.stream).toBe('KILN_BUILDS');
    expect(builds.events.map((e) => e.type)).toEqual(expect.arrayContaining(['BuildRequested', 'BuildSucceeded', 'StepFinished']));
    for (const e of builds.events) {
      const env = { ...e.example, meta: { eventId: 'e', correlationId: 'c', occurredAt: '2026-01-01T00:00:00.000Z' } };
      expect(() => buildCodec.decode(Buffer.from(JSON.stringify(env)), 1, 'kiln.build.b-1')).not.toThrow();
    }
  });

  it('every aggregate: each example is accepted by its codec on a subject of its stream', () => {
    const n = kilnNames('kiln');
    const decoders = {
      Builds: (b: Buffer) => buildCodec.decode(b, 1, n.subjects.build('b-1')),
      Workers: (b: Buffer) => workerCodec.decode(b, 1, n.subjects.worker('w-1')),
      Projects: (b: Buffer) => projectCodec.decode(b, 1, n.subjects.project('p-1')),
      Deploys: (b: Buffer) => deployCodec.decode(b, 1, n.subjects.deploy('d-1')),
    };
    const c = eventCatalog();
    expect(c.aggregates.map((a) => a.name).sort()).toEqual(Object.keys(decoders).sort());
    for (const a of c.aggregates) {
      expect(a.events.length).toBeGreaterThan(0);
      for (const e of a.events) {
        const env = { ...e.example, meta: { eventId: 'e', correlationId: 'c', occurredAt: '2026-01-01T00:00:00.000Z' } };
        expect(decoders[a.name as keyof typeof decoders](Buffer.from(JSON.stringify(env)))).toMatchObject({ type: e.type, version: e.version });
      }
    }
  });

  it('docs/event-catalog.md is up to date (run `npm run catalog`)', () => {
    const committed = readFileSync(join(__dirname, '../../../docs/event-catalog.md'), 'utf8');
    expect(committed).toBe(eventCatalogMarkdown());
  });

  it('docs/event-catalog.json is up to date (run `npm run catalog`)', () => {
    const committed = readFileSync(join(__dirname, '../../../docs/event-catalog.json'), 'utf8');
    expect(JSON.parse(committed)).toEqual(eventCatalog());
  });
});
