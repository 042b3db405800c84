import { setTimeout as delay } from "node:timers/promises";
import { createClerkClient, type User } from "@clerk/backend";
import { isClerkAPIResponseError } from "@clerk/backend/errors";
import { isServiceError, ServiceError } from "../errors.js";
import type { RequestBudget } from "./request-budget.js";

/** The Backend API could not answer (not configured, unreachable, too slow, 5xx, 429, or an answer we cannot read). */
export const clerkUnavailable = (detail: string) =>
  new ServiceError("clerk_unavailable", `Clerk Backend API unavailable (${detail})`, { detail });

/** The `@clerk/backend` client every caller of the Backend API uses (lookups.ts, the directory below). */
export const backendClient = ({ secretKey, apiUrl }: { secretKey: string; apiUrl?: string | undefined }) =>
  createClerkClient({ secretKey, ...(apiUrl ? { apiUrl } : {}), telemetry: { disabled: true } });

/** Clerk refused the secret key (401 / 403): no retry can help; the operator must fix `CLERK_SECRET_KEY`. */
const clerkUnauthorized = (status: number, detail: string) =>
  new ServiceError("clerk_unauthorized", `Clerk rejected CLERK_SECRET_KEY (${status}${detail ? ` ${detail}` : ""})`, {
    detail: String(status),
  });

/** The operation was stopped (Ctrl-C) while waiting for Clerk. */
const interrupted = () => new ServiceError("interrupted", "interrupted");

/** One page of `GET /v1/users`: Clerk's `UserJSON` objects as sent (`user.raw`) and the instance's user count. */
export interface ClerkUserPage {
  users: unknown[];
  totalCount: number;
}

export interface ClerkRetryNotice {
  /** 1 for the first retry. */
  attempt: number;
  /** The answer's status; undefined for a network error or a timeout. */
  status: number | undefined;
  /** How long we wait before the retry (Clerk's `Retry-After` on a 429). */
  delayMs: number;
}

export interface ClerkDirectoryOptions {
  secretKey: string;
  apiUrl?: string | undefined;
  /** Retries of one request after a 429, a 5xx, a network error or a timeout (default 8). */
  maxRetries?: number;
  /** Per attempt (default 30 s). */
  timeoutMs?: number;
  /** Backoff before the first retry when Clerk gives no `Retry-After`; doubled each time, capped at 30 s. */
  backoffMs?: number;
  onRetry?: (notice: ClerkRetryNotice) => void;
  /** Aborting stops waiting (for an answer or a backoff) at once, with an `interrupted` error. */
  signal?: AbortSignal;
  /** Every attempt waits for room in it; a 429 pauses it (every request of the command waits out `Retry-After`). */
  budget?: RequestBudget | undefined;
}

/** The Backend API's user listing, as the operator tools use it. */
export interface ClerkDirectory {
  /** Users in creation order (`+created_at`), `limit` (at most 500) from `offset`. */
  listUsers(offset: number, limit: number): Promise<ClerkUserPage>;
  /** The users among `ids` (at most 100) that exist; an id missing from the answer is not a Clerk user. */
  usersById(ids: readonly string[]): Promise<unknown[]>;
  /** Organizations (`OrganizationJSON`) in creation order, `limit` (at most 500) from `offset`: one request. */
  listOrganizations(offset: number, limit: number): Promise<ClerkPage>;
  /** The organizations among `ids` (at most 100) that exist. */
  organizationsById(ids: readonly string[]): Promise<unknown[]>;
  /** Every membership of the instance (`OrganizationMembershipJSON`), in creation order: one request. */
  listMemberships(offset: number, limit: number): Promise<ClerkPage>;
  /** The memberships in `organizationId` of the users among `userIds` (at most 100); none when it is gone. */
  membershipsOf(organizationId: string, userIds: readonly string[]): Promise<unknown[]>;
}

/** One page of a paginated listing (`{data, total_count}`): the objects as sent (`raw`) and the listing's size. */
export interface ClerkPage {
  items: unknown[];
  totalCount: number;
}

/** The Backend API's largest page. */
export const MAX_PAGE_SIZE = 500;
/** The Backend API's largest `user_id` filter. */
export const MAX_IDS_PER_LOOKUP = 100;
const MAX_BACKOFF_MS = 30_000;

/**
 * The Backend API's listings (`users.getUserList`, `organizations.getOrganizationList`,
 * `getInstanceOrganizationMembershipList`) through the real `@clerk/backend` client, with Clerk's rate limits respected (a 429 waits
 * its `Retry-After`), transient failures (5xx, network, timeout) retried with exponential backoff and jitter, and a
 * rejected key (401/403) reported at once as `clerk_unauthorized`. Other answers (400, 404, 422) are not retried.
 */
export function createClerkDirectory(options: ClerkDirectoryOptions): ClerkDirectory {
  const { secretKey, apiUrl, signal, onRetry, budget } = options;
  const maxRetries = options.maxRetries ?? 8;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const backoffMs = options.backoffMs ?? 500;
  const client = backendClient({ secretKey, apiUrl });
  // The `GET /v1/users` getUserList sends, alone, through the client's own request (its errors, deserialized users).
  const listUsersOnly = (params: { limit: number; offset: number; orderBy: "+created_at" }) =>
    (client.users as unknown as { request: (options: object) => Promise<User[]> }).request({
      method: "GET",
      path: "/users",
      queryParams: params,
    });

  const abortable = <T>(work: Promise<T>, ms: number | undefined): Promise<T> => {
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
  };
  const sleep = (ms: number) =>
    delay(ms, undefined, signal ? { signal } : {}).catch(() => {
      throw interrupted();
    });

  // `getUserList` is two requests: the page and `/v1/users/count`.
  const withRetries = async <T>(call: () => Promise<T>, cost = 2): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      let status: number | undefined;
      let retryAfterMs: number | undefined;
      try {
        const answered = await budget?.take(cost, signal).catch((error: unknown) => {
          throw signal?.aborted ? interrupted() : error;
        });
        try {
          return await abortable(call(), timeoutMs);
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
      const delayMs = Math.round(retryAfterMs ?? backoff);
      if (status === 429) budget?.pause(delayMs);
      onRetry?.({ attempt: attempt + 1, status, delayMs });
      await sleep(delayMs);
    }
  };

  return {
    // Not `getUserList`: it sends the count with the page, so Clerk may count before a deletion that shifts the
    // page. paging.ts needs the count taken after the page was read, so it is asked for once the page is answered.
    listUsers: async (offset, limit) => {
      const params = { limit: Math.min(limit, MAX_PAGE_SIZE), offset, orderBy: "+created_at" } as const;
      const users = await withRetries(() => listUsersOnly(params), 1);
      return { users: users.map((user) => user.raw), totalCount: await withRetries(() => client.users.getCount(), 1) };
    },
    usersById: async (ids) => {
      if (ids.length === 0) return [];
      const page = await withRetries(() => client.users.getUserList({ userId: [...ids], limit: MAX_IDS_PER_LOOKUP }));
      return page.data.map((user) => user.raw);
    },
    listOrganizations: async (offset, limit) => {
      const page = await withRetries(
        () =>
          client.organizations.getOrganizationList({
            limit: Math.min(limit, MAX_PAGE_SIZE),
            offset,
            orderBy: "+created_at",
          }),
        1,
      );
      return { items: page.data.map((organization) => organization.raw), totalCount: page.totalCount };
    },
    organizationsById: async (ids) => {
      if (ids.length === 0) return [];
      const page = await withRetries(
        () => client.organizations.getOrganizationList({ organizationId: [...ids], limit: MAX_IDS_PER_LOOKUP }),
        1,
      );
      return page.data.map((organization) => organization.raw);
    },
    listMemberships: async (offset, limit) => {
      const page = await withRetries(
        () =>
          client.organizations.getInstanceOrganizationMembershipList({
            limit: Math.min(limit, MAX_PAGE_SIZE),
            offset,
            orderBy: "+created_at",
          }),
        1,
      );
      return { items: page.data.map((membership) => membership.raw), totalCount: page.totalCount };
    },
    membershipsOf: async (organizationId, userIds) => {
      if (userIds.length === 0) return [];
      const page = await withRetries(
        () =>
          client.organizations
            .getOrganizationMembershipList({ organizationId, userId: [...userIds], limit: MAX_IDS_PER_LOOKUP })
            .catch((error: unknown) => {
              if (isClerkAPIResponseError(error) && error.status === 404) return { data: [] };
              throw error;
            }),
        1,
      );
      return page.data.map((membership) => membership.raw);
    },
  };
}

function describeClerkError(error: { errors: { code?: string }[] }): string {
  const code = error.errors[0]?.code;
  return code ? ` ${code}` : "";
}
