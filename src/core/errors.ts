/**
 * Domain errors with stable codes. Domain modules throw these; resolvers and the server turn them
 * into GraphQL errors whose `extensions.code` clients branch on. Whether an error is worth a retry
 * is decided here, where it is raised.
 */
export type ErrorCode =
  | 'BAD_USER_INPUT'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'RATE_LIMITED'
  | 'LIMIT_EXCEEDED'
  | 'UNAVAILABLE'
  | 'PAYLOAD_TOO_LARGE'
  | 'INTERNAL_SERVER_ERROR';

export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: { retryable?: boolean; field?: string; [key: string]: unknown } = {},
  ) {
    super(message);
  }
  get retryable(): boolean {
    return this.details.retryable ?? (this.code === 'UNAVAILABLE' || this.code === 'RATE_LIMITED');
  }
}

export const badInput = (message: string, field?: string) => new AppError('BAD_USER_INPUT', message, { field });
export const unavailable = (message: string, details: Record<string, unknown> = {}) =>
  new AppError('UNAVAILABLE', message, { retryable: true, ...details });
