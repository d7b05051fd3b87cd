import { currentTraceId } from './tracing';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * Structured JSON logger: one line per record on stdout, with service, trace id and
 * whatever context (build id, worker id) the caller binds. Level from `KILN_LOG_LEVEL`.
 */
export class Logger {
  private readonly min: number;
  constructor(
    private readonly service: string,
    private readonly bound: Record<string, unknown> = {},
    level: LogLevel = (process.env.KILN_LOG_LEVEL as LogLevel) || 'info',
  ) {
    this.min = order[level] ?? order.info;
  }

  child(fields: Record<string, unknown>): Logger {
    return new Logger(this.service, { ...this.bound, ...fields });
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.write('debug', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.write('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.write('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.write('error', msg, fields);
  }

  private write(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (order[level] < this.min) return;
    const rec: Record<string, unknown> = { time: new Date().toISOString(), level, service: this.service, msg, ...this.bound, ...fields };
    const traceId = currentTraceId();
    if (traceId) rec.traceId = traceId;
    if (rec.err instanceof Error) rec.err = { name: rec.err.name, message: rec.err.message, stack: rec.err.stack };
    process.stdout.write(JSON.stringify(rec) + '\n');
  }
}
