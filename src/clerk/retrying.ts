import { setTimeout as delay } from "node:timers/promises";
import { isClerkAPIResponseError } from "@clerk/backend/errors";
import { isServiceError, ServiceError } from "../errors.js";
import type { RequestBudget } from "./request-budget.js";

/** The Backend API could not answer (not configured, unreachable, too slow, 5xx, 429, or an answer we cannot read). */
export const clerkUnavailable = (detail: string) =>
  new ServiceError("clerk_unavailable", `Clerk Backend API unavailable (${detail})`, { detail });

/** Clerk refused the secret key (401 / 403): no retry can help; the operator must fix `CLERK_SECRET_KEY`. */
const clerkUnauthorized = (status: number, detail: string) =>
  new ServiceError("clerk_unauthorized", `Clerk rejected CLERK_SECRET_KEY (${status}${detail ? ` ${detail}` : ""})`, {
    detail: String(status),
  });

/** The operation was stopped (Ctrl-C) while waiting for Clerk. */
const interrupted = () => new ServiceError("interrupted", "interrupted");

export interface ClerkRetryNotice {
  /** 1 for the first retry. */
  attempt: number;
  /** The answer's status; undefined for a network error or a timeout. */
  status: number | undefined;
  /** How long we wait before the retry (Clerk's `Retry-After` on a 429, at most `MAX_RETRY_AFTER_MS`). */
  delayMs: number;
  /** What a 429's `Retry-After` asked for; longer than `delayMs` when it was capped. */
  retryAfterMs?: number | undefined;
}

const MAX_BACKOFF_MS = 30_000;
/**
 * The longest one `Retry-After` is waited. Clerk's limits count per 10 s; a longer ask (an hour, or past 2^31 ms,
 * where Node's timer fires after 1 ms and the loop would spin) is waited a minute at a time, each retry asking again.
 */
export const MAX_RETRY_AFTER_MS = 60_000;

function abortable<T>(work: Promise<T>, ms: number | undefined, signal: AbortSignal | undefined): Promise<T> {
  if (signal?.aborted) return Promise.reject(interrupted());
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      if (ms !== undefined) timer = setTimeout(() => reject(clerkUnavailable("timeout")), ms);
      onAbort = () => reject(interrupted());
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
  ]).finally(() => {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  });
}

const sleep = (ms: number, signal: AbortSignal | undefined) =>
  delay(ms, undefined, signal ? { signal } : {}).catch(() => {
    throw interrupted();
  });

export interface RetryOptions {
  signal?: AbortSignal | undefined;
  onRetry?: ((notice: ClerkRetryNotice) => void) | undefined;
  budget?: RequestBudget | undefined;
  maxRetries: number;
  timeoutMs: number;
  backoffMs: number;
}

/**
 * `call` (`cost` requests) under Clerk's rules: room in the budget first; a 429 waits its `Retry-After` (pausing the
 * budget), transient failures (5xx, network, timeout) are retried with exponential backoff and jitter, a rejected
 * key (401/403) is `clerk_unauthorized` at once; other answers (400, 404, 422) are not retried.
 */
export async function retrying<T>(call: () => Promise<T>, cost: number, options: RetryOptions): Promise<T> {
  const { signal, onRetry, budget, maxRetries, timeoutMs, backoffMs } = options;
  for (let attempt = 0; ; attempt++) {
    let status: number | undefined;
    let retryAfterMs: number | undefined;
    try {
      const answered = await budget?.take(cost, signal).catch((error: unknown) => {
        throw signal?.aborted ? interrupted() : error;
      });
      try {
        return await abortable(call(), timeoutMs, signal);
      } finally {
        answered?.();
      }
    } catch (error) {
      if (isServiceError(error, "interrupted")) throw error;
      if (isClerkAPIResponseError(error)) {
        status = error.status;
        if (status === 401 || status === 403) {
          throw clerkUnauthorized(status, error.errors[0]?.code ?? "");
        }
        const transient = status === undefined || status === 408 || status === 429 || status >= 500;
        if (!transient) throw clerkUnavailable(`status ${status}${describeClerkError(error)}`);
        if (status === 429 && error.retryAfter !== undefined) retryAfterMs = error.retryAfter * 1000;
      } else if (!isServiceError(error, "clerk_unavailable")) {
        throw error;
      }
      if (attempt >= maxRetries) {
        throw clerkUnavailable(
          `${status === undefined ? "no answer" : `status ${status}`} after ${maxRetries + 1} attempts`,
        );
      }
    }
    const backoff = Math.min(backoffMs * 2 ** attempt, MAX_BACKOFF_MS) * (0.5 + Math.random() / 2);
    const delayMs = Math.round(
      retryAfterMs === undefined ? backoff : Math.min(Math.max(retryAfterMs, 0), MAX_RETRY_AFTER_MS),
    );
    if (status === 429) budget?.pause(delayMs);
    onRetry?.({ attempt: attempt + 1, status, delayMs, retryAfterMs });
    await sleep(delayMs, signal);
  }
}

function describeClerkError(error: { errors: { code?: string }[] }): string {
  const code = error.errors[0]?.code;
  return code ? ` ${code}` : "";
}
