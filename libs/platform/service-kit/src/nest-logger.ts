import { LoggerService } from '@nestjs/common';
import { Logger } from '@kiln/telemetry';

/** Routes Nest's own log lines into Kiln's structured JSON logger. */
export class NestJsonLogger implements LoggerService {
  constructor(private readonly log: Logger) {}
  log(message: unknown, context?: string) {
    this.log.debug(String(message), { context });
  }
  error(message: unknown, trace?: string, context?: string) {
    this.log.error(String(message), { context, trace });
  }
  warn(message: unknown, context?: string) {
    this.log.warn(String(message), { context });
  }
  debug(message: unknown, context?: string) {
    this.log.debug(String(message), { context });
  }
  verbose(message: unknown, context?: string) {
    this.log.debug(String(message), { context });
  }
}
