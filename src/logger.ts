import { pino, type Logger } from 'pino';

export type { Logger };

/** One JSON object per line on stdout; field names shared across modules (userId, eventId, …). */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { service: 'feedrec', ...base }, timestamp: pino.stdTimeFunctions.isoTime });
}
