import { context, propagation, trace, Span, SpanKind, SpanStatusCode, Context, Attributes } from '@opentelemetry/api';
import type { NodeSDK } from '@opentelemetry/sdk-node';

let sdk: { shutdown(): Promise<void> } | null = null;

/**
 * Starts OpenTelemetry for a service. Exporters follow the standard `OTEL_*` variables
 * (e.g. `OTEL_TRACES_EXPORTER=otlp` and `OTEL_EXPORTER_OTLP_ENDPOINT`); with none set,
 * spans are created (ids appear in logs) but not exported, so a laptop run prints no
 * connection errors to a collector that is not there.
 *
 * Without an exporter only the tracer provider is loaded, not the whole Node SDK with its
 * exporters, metrics and logs: every process pays for what it loads at start, and the
 * pool starts a build agent per ephemeral worker.
 */
export function startTelemetry(serviceName: string): void {
  if (sdk) return;
  process.env.OTEL_SERVICE_NAME ??= serviceName;
  process.env.OTEL_METRICS_EXPORTER ??= 'none';
  process.env.OTEL_LOGS_EXPORTER ??= 'none';
  const exporting = !!process.env.OTEL_TRACES_EXPORTER && process.env.OTEL_TRACES_EXPORTER !== 'none';
  if (exporting) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { NodeSDK: Sdk } = require('@opentelemetry/sdk-node') as { NodeSDK: typeof NodeSDK };
    const full = new Sdk({ serviceName });
    full.start();
    sdk = full;
    return;
  }
  // Spans still get real ids (they appear in logs and in NATS headers, so one build stays
  // one trace) and the W3C propagator carries them, but they go nowhere.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const otel = require('@opentelemetry/sdk-trace-node') as typeof import('@opentelemetry/sdk-trace-node');
  const spanLog = process.env[SPAN_LOG_KEY];
  const provider = new otel.NodeTracerProvider(spanLog ? { spanProcessors: [new otel.SimpleSpanProcessor(spanLineExporter(spanLog, serviceName))] } : {});
  provider.register();
  sdk = provider;
}

/**
 * `KILN_SPAN_LOG=<file>`: every finished span is appended to the file as one JSON line
 * (service, pid, trace, span and parent ids, name, start and duration in ms, attributes),
 * for finding where a build's time goes on one host without a collector. Diagnosis only:
 * each span costs a synchronous write.
 */
export const SPAN_LOG_KEY = 'KILN_SPAN_LOG';

function spanLineExporter(file: string, service: string): import('@opentelemetry/sdk-trace-node').SpanExporter {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { appendFileSync } = require('node:fs') as typeof import('node:fs');
  const ms = (t: [number, number]) => t[0] * 1e3 + t[1] / 1e6;
  return {
    export(spans, done) {
      const lines = spans.map((s) =>
        JSON.stringify({
          service,
          pid: process.pid,
          trace: s.spanContext().traceId,
          span: s.spanContext().spanId,
          parent: s.parentSpanContext?.spanId,
          name: s.name,
          start: ms(s.startTime),
          ms: ms(s.duration),
          attrs: s.attributes,
        }),
      );
      try {
        appendFileSync(file, `${lines.join('\n')}\n`);
        done({ code: 0 });
      } catch (e) {
        done({ code: 1, error: e as Error });
      }
    },
    shutdown: async () => undefined,
  };
}

export async function stopTelemetry(): Promise<void> {
  const s = sdk;
  sdk = null;
  await s?.shutdown().catch(() => undefined);
}

const tracer = () => trace.getTracer('kiln');

/** The W3C `traceparent` of the active span, to put in a NATS header or an envelope. */
export function currentTraceparent(ctx: Context = context.active()): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier.traceparent;
}

/** The trace id of the active span (for structured logs), or undefined. */
export function currentTraceId(): string | undefined {
  const sc = trace.getSpan(context.active())?.spanContext();
  return sc && sc.traceId !== '00000000000000000000000000000000' ? sc.traceId : undefined;
}

/** A context whose parent is the span described by `traceparent` (from a message header). */
export function contextFromTraceparent(traceparent: string | undefined): Context {
  if (!traceparent) return context.active();
  return propagation.extract(context.active(), { traceparent });
}

/**
 * Runs `fn` in a new span (child of `parent` when given, else of the active span);
 * records errors and ends the span when the promise settles.
 */
export async function inSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
  opts: { parent?: string; kind?: SpanKind } = {},
): Promise<T> {
  const parentCtx = opts.parent ? contextFromTraceparent(opts.parent) : context.active();
  return tracer().startActiveSpan(name, { attributes, kind: opts.kind ?? SpanKind.INTERNAL }, parentCtx, async (span) => {
    try {
      return await fn(span);
    } catch (e) {
      span.recordException(e as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
      throw e;
    } finally {
      span.end();
    }
  });
}

export { SpanKind };
