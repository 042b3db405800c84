/** What a failed database call means for the caller. */
export type DbFailure =
  | { kind: "unique_violation"; constraint: string }
  | { kind: "retryable" }
  | { kind: "unavailable"; code: string }
  | { kind: "other"; code: string };

export class DatabaseUnavailableError extends Error {
  constructor(readonly code: string) {
    super(`database unavailable (${code})`);
    this.name = "DatabaseUnavailableError";
  }
}

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
function rootCause(error: unknown): unknown {
  let current = error;
  while (current instanceof Error && current.cause !== undefined && !("code" in current)) current = current.cause;
  return current;
}

export function classifyDbError(error: unknown): DbFailure {
  if (error instanceof DatabaseUnavailableError) return { kind: "unavailable", code: error.code };
  const cause = rootCause(error) as { code?: unknown; constraint_name?: unknown; constraint?: unknown };
  // PGlite, once closed (or closing), throws a plain Error with no code: the embedded database is gone.
  if (cause instanceof Error && /^PGlite is clos(ed|ing)$/.test(cause.message))
    return { kind: "unavailable", code: "PGLITE_CLOSED" };
  const code = typeof cause?.code === "string" ? cause.code : "unknown";
  if (code === "23505") {
    const constraint = cause.constraint_name ?? cause.constraint;
    return { kind: "unique_violation", constraint: typeof constraint === "string" ? constraint : "" };
  }
  // serialization_failure, deadlock_detected
  if (code === "40001" || code === "40P01") return { kind: "retryable" };
  // 08: connection exception; 53: insufficient resources; 57014 query_canceled (statement_timeout);
  // 57P0x: admin/crash shutdown, cannot connect now; 55P03: lock_not_available (lock_timeout)
  if (CONNECTION_CODES.has(code) || /^(08|53|57P0)/.test(code) || code === "57014" || code === "55P03") {
    return { kind: "unavailable", code };
  }
  return { kind: "other", code };
}

/**
 * An integrity-constraint violation (SQLSTATE class 23: unique, check, not-null, foreign key) and the constraint's
 * name: a row that can never be written as it is, whereas other failures are about the database, not the row.
 */
export function constraintViolation(error: unknown): { code: string; constraint: string } | undefined {
  const cause = rootCause(error) as { code?: unknown; constraint_name?: unknown; constraint?: unknown };
  const code = typeof cause?.code === "string" ? cause.code : "";
  if (!code.startsWith("23")) return undefined;
  const constraint = cause.constraint_name ?? cause.constraint;
  return { code, constraint: typeof constraint === "string" ? constraint : "" };
}

/**
 * Where an error was thrown, for logs: name, code and the top stack frames, never the message (a driver's message
 * can quote query parameters, which hold e-mail addresses).
 */
export function describeError(error: unknown): { name: string; code?: string; frames?: string[] } {
  if (!(error instanceof Error)) return { name: typeof error };
  const { code } = classifyDbError(error) as { code?: string };
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
  if (classifyDbError(error).kind === "unavailable") return true;
  const top = describeError(error).frames?.[0] ?? "";
  return /[\\/]node_modules[\\/]postgres[\\/]/.test(top);
}

/**
 * Bounds a database call in time. postgres.js can leave a query pending for long after the server went away
 * (porsager/postgres#1208); Svix counts an answer slower than 15 s as failed, so we give up well before.
 */
export async function withDeadline<T>(ms: number, run: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DatabaseUnavailableError("deadline_exceeded")), ms);
  });
  try {
    return await Promise.race([run(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A value the database can never store as sent, whatever the retry: SQLSTATE class 22 (data exception: string too
 * long, bad encoding, untranslatable character, …) or 54 (program limit exceeded: an index row too large, …).
 * Input that can never succeed is the caller's problem (4xx), not an outage or a bug.
 */
export function isUnwritableRow(error: unknown): boolean {
  const cause = rootCause(error) as { code?: unknown };
  return typeof cause?.code === "string" && /^(22|54)[0-9A-Z]{3}$/.test(cause.code);
}
