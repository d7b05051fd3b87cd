import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { currentTraceId, currentTraceparent, inSpan, startTelemetry, stopTelemetry } from './tracing';

describe('tracing without an exporter', () => {
  beforeAll(() => {
    delete process.env.OTEL_TRACES_EXPORTER;
    startTelemetry('kiln-test');
  });
  afterAll(() => stopTelemetry());

  it('gives spans real ids and carries the trace through a traceparent', async () => {
    const outer = await inSpan('outer', {}, async () => ({ traceId: currentTraceId(), traceparent: currentTraceparent() }));
    expect(outer.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(outer.traceparent).toMatch(new RegExp(`^00-${outer.traceId}-[0-9a-f]{16}-01$`));
    // a service that got the traceparent in a NATS header continues the same trace
    const inner = await inSpan('inner', {}, async () => currentTraceId(), { parent: outer.traceparent });
    expect(inner).toBe(outer.traceId);
    // and a span without a parent starts a new one
    const other = await inSpan('other', {}, async () => currentTraceId());
    expect(other).not.toBe(outer.traceId);
  });

  it('keeps the active span across awaits (async context)', async () => {
    const ids = await inSpan('async', {}, async () => {
      const before = currentTraceId();
      await new Promise((r) => setTimeout(r, 5));
      return [before, currentTraceId()];
    });
    expect(ids[0]).toBeDefined();
    expect(ids[1]).toBe(ids[0]);
  });
});

describe('KILN_SPAN_LOG', () => {
  it('writes each finished span as one JSON line with its parent, start, duration and attributes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-spanlog-'));
    const file = join(dir, 'spans.jsonl');
    try {
      // a process of its own (the compiled library: npm test builds first): telemetry starts once per process
      const script = [
        "const t = require('./dist/libs/platform/telemetry/src');",
        "t.startTelemetry('kiln-spanlog-test');",
        "t.inSpan('outer', { a: 1 }, () => t.inSpan('inner', { 'kiln.build.id': 'b1' }, async () => undefined)).then(() => t.stopTelemetry());",
      ].join('\n');
      execFileSync(process.execPath, ['-e', script], { cwd: join(__dirname, '../../../..'), env: { ...process.env, KILN_SPAN_LOG: file, OTEL_TRACES_EXPORTER: '' } });
      const spans = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(spans.map((s) => s.name)).toEqual(['inner', 'outer']);
      const [inner, outer] = spans;
      expect(inner).toMatchObject({ service: 'kiln-spanlog-test', trace: outer.trace, parent: outer.span, attrs: { 'kiln.build.id': 'b1' } });
      expect(outer.attrs).toEqual({ a: 1 });
      expect(inner.start).toBeGreaterThanOrEqual(outer.start);
      expect(typeof outer.ms).toBe('number');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
