import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCodec } from './builds/events';
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

  it('docs/event-catalog.md is up to date (run `npm run catalog`)', () => {
    const committed = readFileSync(join(__dirname, '../../../docs/event-catalog.md'), 'utf8');
    expect(committed).toBe(eventCatalogMarkdown());
  });
});
