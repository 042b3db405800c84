import { isTimedOut } from "../db/errors.js";
import { ServiceError } from "../errors.js";

/** Attempts of a single user whose username a concurrent writer took (each attempt sees the newer snapshot). */
const MAX_USERNAME_ATTEMPTS = 5;

export interface RowFailure<Row> {
  row: Row;
  /** `email_conflict` (held by another Clerk user id), `username_conflict`, or the violated constraint. */
  reason: string;
  /** The row's own error (what it is answered when a delivery waits for it). */
  error: ServiceError;
}

function failureReason(error: ServiceError): string | undefined {
  if (error.code === "email_conflict") return "email_conflict";
  if (error.code === "invalid_payload") return `sqlstate_${error.detail ?? "unknown"}`;
  if (error.code !== "constraint_violation") return undefined;
  return error.detail === "users_username_unique" ? "username_conflict" : (error.detail ?? "constraint");
}

/** The reason a row of a batch cannot be written, or undefined for a failure of the database, not of the rows. */
export const rowFailureReason = (error: unknown) => (error instanceof ServiceError ? failureReason(error) : undefined);

/** Rows retried alone at once after a batch timed out. */
const SOLO_CONCURRENCY = 4;

/**
 * Runs `apply` on all rows (of any kind) at once; when a row fails the statement, on each half, down to the single
 * rows that cannot be written (a taken username is retried a few times first: a concurrent writer took it). Returns
 * what each successful call returned and the rows that failed.
 *
 * `timeouts` (the webhook's batches): a statement that times out is retried row by row, four at a time, so that a
 * locked or slow row times out alone (its own 503) while the rows beside it are written. A slow database bounds this:
 * the call's deadline (db/call.ts), counted from the oldest delivery, fails every row not answered by then.
 */
export async function applyIsolating<Row, R>(
  rows: readonly Row[],
  apply: (rows: readonly Row[]) => Promise<R>,
  { timeouts = false } = {},
): Promise<{ results: R[]; failures: RowFailure<Row>[] }> {
  const results: R[] = [];
  const failures: RowFailure<Row>[] = [];
  const solo = async (part: readonly Row[]) => {
    const queue = [...part];
    const worker = async () => {
      while (queue.length > 0) await attempt(queue.splice(0, 1), 1);
    };
    const workers = await Promise.allSettled(Array.from({ length: SOLO_CONCURRENCY }, worker));
    const failed = workers.find((outcome) => outcome.status === "rejected");
    if (failed) throw failed.reason;
  };
  const attempt = async (part: readonly Row[], tries: number): Promise<void> => {
    try {
      results.push(await apply(part));
    } catch (error) {
      const [only] = part;
      if (timeouts && isTimedOut(error) && only !== undefined) {
        if (part.length > 1) return solo(part);
        failures.push({ row: only, reason: "timeout", error: error as ServiceError });
        return;
      }
      const reason = rowFailureReason(error);
      if (reason === undefined || !(error instanceof ServiceError)) throw error;
      if (part.length > 1 || only === undefined) {
        const half = Math.ceil(part.length / 2);
        await attempt(part.slice(0, half), 1);
        await attempt(part.slice(half), 1);
        return;
      }
      if (reason === "username_conflict" && tries < MAX_USERNAME_ATTEMPTS) return attempt(part, tries + 1);
      failures.push({ row: only, reason, error });
    }
  };
  if (rows.length > 0) await attempt(rows, 1);
  return { results, failures };
}
