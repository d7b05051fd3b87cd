import { LoggerService } from '@nestjs/common';
import { Logger } from '@kiln/telemetry';

/** Routes Nest's own log lines into Kiln's structured JSON logger. */
export class NestJsonLogger implements LoggerService {
  constructor(private readonly out: Logger) {}
  log(message: unknown, context?: string) {
    this.out.debug(String(message), { context });
  }
  error(message: unknown, trace?: string, context?: string) {
    this.out.error(String(message), { context, trace });
  }
  warn(message: unknown, context?: string) {
    this.out.warn(String(message), { context });
  }
  debug(message: unknown, context?: string) {
    this.out.debug(String(message), { context });
  }
  verbose(message: unknown, context?: string) {
    this.out.debug(String(message), { context });
  }
}
