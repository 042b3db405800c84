import { setTimeout as delay } from "node:timers/promises";
import { ServiceError } from "../errors.js";
import { isRetryableConflict, toDatabaseError } from "./errors.js";

/**
 * How long a caller may wait for the database, and how hard to try. Every database call goes through
 * `callDatabase`; no caller keeps a deadline or a retry loop of its own.
 */
export interface CallPolicy {
  /** For all attempts together. */
  deadlineMs: number;
  /** Further attempts while the database is unreachable, 1, 2, 4 … s apart (each call is all or nothing). */
  unavailableRetries: number;
}

/** A request: Svix counts an answer slower than 15 s as failed, so the whole call gives up at 10 s. */
export const REQUEST: CallPolicy = { deadlineMs: 10_000, unavailableRetries: 0 };
/** An operator command: a page may wait longer, and rides out a database restart. */
export const BACKGROUND: CallPolicy = { deadlineMs: 60_000, unavailableRetries: 3 };

/** Attempts after a serialization failure or deadlock, which PostgreSQL asks us to retry. */
const MAX_CONFLICT_ATTEMPTS = 5;

/** A caller's own reason to run its work again (a username taken by a concurrent insert): `attempt` so far. */
export type RetryWhen = (error: ServiceError, attempt: number) => boolean;

/**
 * Runs `work` within the policy's deadline. A failure comes out as a `ServiceError`: `database_unavailable` when
 * the database is unreachable, too slow, or kept asking for a retry; `constraint_violation`, `row_unwritable`, …
 * otherwise. postgres.js can leave a query pending long after the server went away (porsager/postgres#1208): the
 * deadline answers for it.
 */
export async function callDatabase<T>(
  policy: CallPolicy,
  work: (attempt: number) => Promise<T>,
  retryWhen?: RetryWhen,
): Promise<T> {
  const deadline = performance.now() + policy.deadlineMs;
  let unavailable = 0;
  for (let attempt = 1; ; attempt++) {
    const left = deadline - performance.now();
    if (left <= 0) throw unavailableError("deadline_exceeded");
    try {
      return await withinMs(left, () => work(attempt));
    } catch (thrown) {
      const error = toDatabaseError(thrown);
      const state = error.detail ?? "";
      if (isRetryableConflict(state)) {
        if (attempt < MAX_CONFLICT_ATTEMPTS) continue;
        throw error;
      }
      if (retryWhen?.(error, attempt)) continue;
      if (error.code === "database_unavailable" && unavailable < policy.unavailableRetries) {
        await delay(1000 * 2 ** unavailable++);
        continue;
      }
      throw error;
    }
  }
}

const unavailableError = (detail: string) =>
  new ServiceError("database_unavailable", "the database is unavailable; retry later", { detail });

async function withinMs<T>(ms: number, run: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(unavailableError("deadline_exceeded")), ms);
  });
  try {
    return await Promise.race([run(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
