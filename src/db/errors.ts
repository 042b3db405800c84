import { ServiceError } from "../errors.js";

const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
]);

/** The driver's error, below drizzle's `DrizzleQueryError` wrapper (whose message carries the query's parameters). */
function rootCause(error: unknown): { code?: unknown; constraint_name?: unknown; constraint?: unknown } {
  let current = error;
  while (current instanceof Error && current.cause !== undefined && !("code" in current)) current = current.cause;
  return (current ?? {}) as { code?: unknown };
}

/** The SQLSTATE (or the driver's connection code) of a failed database call; `unknown` when it has none. */
export function sqlState(error: unknown): string {
  const cause = rootCause(error);
  // PGlite, once closed (or closing), throws a plain Error with no code: the embedded database is gone.
  if (cause instanceof Error && /^PGlite is clos(ed|ing)$/.test(cause.message)) return "PGLITE_CLOSED";
  return typeof cause.code === "string" ? cause.code : "unknown";
}

/** Serialization failure or deadlock: PostgreSQL asks us to run the same thing again. */
export const isRetryableConflict = (state: string) => state === "40001" || state === "40P01";

/** 57014 query_canceled (statement_timeout); 55P03 lock_not_available (lock_timeout). */
const isTimeout = (state: string) => state === "57014" || state === "55P03";

/**
 * 08 connection exception; 53 insufficient resources; a timeout; 57P0x admin/crash shutdown, cannot connect now.
 */
const isUnavailable = (state: string) =>
  CONNECTION_CODES.has(state) || state === "PGLITE_CLOSED" || /^(08|53|57P0)/.test(state) || isTimeout(state);

/** A statement or lock timeout (answered `database_unavailable`): one slow or locked row can cause it. */
export const isTimedOut = (error: unknown) =>
  error instanceof ServiceError && error.code === "database_unavailable" && isTimeout(error.detail ?? "");

/**
 * 54: program limit exceeded (an index row too large); 22: data exception (too long, bad encoding, a value out of
 * range): the same row will fail the same way however often it is retried.
 */
const isUnwritable = (state: string) => /^(54|22)/.test(state);

/**
 * Something the statement names is not in the database, as when migrations were not applied: 42P01 undefined table,
 * 42703 column, 42883 function, 42704 object (a type, a role), 3F000 schema; 42P10 no unique constraint for an
 * ON CONFLICT target.
 */
const isMissingFromSchema = (state: string) => ["42P01", "42703", "42883", "42704", "3F000", "42P10"].includes(state);

/** Any error of a database call as the service's error; a ServiceError passes through unchanged. */
export function toDatabaseError(error: unknown): ServiceError {
  if (error instanceof ServiceError) return error;
  const state = sqlState(error);
  if (isUnavailable(state) || isRetryableConflict(state)) {
    return new ServiceError("database_unavailable", "the database is unavailable; retry later", {
      detail: state,
      cause: error,
    });
  }
  if (state.startsWith("23")) {
    const { constraint_name, constraint } = rootCause(error);
    const name = constraint_name ?? constraint;
    return new ServiceError("constraint_violation", "a row was refused by a database constraint", {
      detail: typeof name === "string" && name ? name : `sqlstate_${state}`,
      cause: error,
    });
  }
  if (isUnwritable(state)) {
    return new ServiceError("invalid_payload", "a value cannot be stored (too large, or not valid text)", {
      detail: state,
      cause: error,
    });
  }
  if (isMissingFromSchema(state)) {
    return new ServiceError("schema_outdated", "the database schema is behind this code: run `npm run db:migrate`", {
      detail: state,
      cause: error,
    });
  }
  return new ServiceError("internal", "database error", { detail: state, cause: error });
}

/**
 * Where an error was thrown, for logs: name, code and the top stack frames, never the message (a driver's message
 * can quote query parameters, which hold e-mail addresses).
 */
export function describeError(error: unknown): { name: string; code?: string; frames?: string[] } {
  if (!(error instanceof Error)) return { name: typeof error };
  const code = error instanceof ServiceError ? (error.detail ?? error.code) : sqlState(error);
  const frames = (error.stack ?? "")
    .split("\n")
    .filter((line) => /^\s+at /.test(line))
    .slice(0, 5)
    .map((line) => line.trim());
  return { name: error.name, ...(code && code !== "unknown" ? { code } : {}), frames };
}

/**
 * An error no caller awaits, raised by the database driver after the server went away: a connection error, or any
 * error thrown from postgres.js's own code (its write timer on a closed socket: porsager/postgres#1154, #1208).
 */
export function isStrayDatabaseError(error: unknown): boolean {
  if (isUnavailable(sqlState(error))) return true;
  const top = describeError(error).frames?.[0] ?? "";
  return /[\\/]node_modules[\\/]postgres[\\/]/.test(top);
}
