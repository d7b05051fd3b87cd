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
