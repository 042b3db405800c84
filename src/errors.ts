/**
 * The one error type of the service. Every layer throws a `ServiceError` with a code; each transport keeps only a
 * table from code to its answer (HTTP status in http/errors.ts, exit code in cli/cli.ts).
 */
export type ErrorCode =
  // the request or the delivery
  | "missing_signature"
  | "invalid_signature"
  | "invalid_json"
  | "invalid_payload"
  | "invalid_request"
  | "payload_too_large"
  | "unsupported_media_type"
  | "not_found"
  | "unauthenticated"
  // the state of the data
  | "email_conflict"
  | "user_deleted"
  | "user_not_provisionable"
  /** A row the database refused by a constraint (`detail`: the constraint's name). */
  | "constraint_violation"
  // what the service depends on
  | "database_unavailable"
  | "schema_outdated"
  | "auth_unavailable"
  | "clerk_unavailable"
  | "clerk_unauthorized"
  // operator commands
  | "usage"
  | "config"
  | "sync_busy"
  /** The connection holding an advisory lock (the sync's) ended, and the lock with it. */
  | "lock_lost"
  | "not_replayable"
  | "interrupted"
  | "internal";

export class ServiceError extends Error {
  override readonly name = "ServiceError";
  /** A short machine-readable cause for logs (a SQLSTATE, a Clerk status): never personal data. */
  readonly detail: string | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: { detail?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.detail = options.detail;
  }
}

export const isServiceError = (error: unknown, code?: ErrorCode): error is ServiceError =>
  error instanceof ServiceError && (code === undefined || error.code === code);
