import { createClerkClient, type User } from "@clerk/backend";
import { isClerkAPIResponseError } from "@clerk/backend/errors";
import { fetchSubscriptionItems } from "./billing-api.js";
import type { RequestBudget } from "./request-budget.js";
import { type ClerkRetryNotice, retrying } from "./retrying.js";
import { teamListings } from "./team-listings.js";

export { type ClerkRetryNotice, clerkUnavailable } from "./retrying.js";

/** The `@clerk/backend` client every caller of the Backend API uses (lookups.ts, the directory below). */
export const backendClient = ({ secretKey, apiUrl }: { secretKey: string; apiUrl?: string | undefined }) =>
  createClerkClient({ secretKey, ...(apiUrl ? { apiUrl } : {}), telemetry: { disabled: true } });

/** One page of `GET /v1/users`: Clerk's `UserJSON` objects as sent (`user.raw`) and the instance's user count. */
export interface ClerkUserPage {
  users: unknown[];
  totalCount: number;
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
  /** Users newest-updated first (`-updated_at`), `limit` (at most 500) from `offset`: an incremental sync's listing. */
  listUsersByUpdate(offset: number, limit: number): Promise<ClerkUserPage>;
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
  /** Every Clerk Billing subscription item of the instance, default plans included, newest first: one request. */
  listSubscriptionItems(offset: number, limit: number): Promise<ClerkPage>;
  /** Every invitation of the instance (`OrganizationInvitationJSON`), in creation order: one request. */
  listInvitations(offset: number, limit: number): Promise<ClerkPage>;
  /** Every invitation of `organizationId`; none when it is gone. */
  invitationsOf(organizationId: string): Promise<unknown[]>;
  /** The instance's organization roles (`RoleJSON`, with their permissions), in creation order. */
  listRoles(offset: number, limit: number): Promise<ClerkPage>;
  /** The roles among `ids` that exist (one request each). */
  rolesById(ids: readonly string[]): Promise<unknown[]>;
  /** The instance's organization permissions (`PermissionJSON`), in creation order. */
  listPermissions(offset: number, limit: number): Promise<ClerkPage>;
  /** The permissions among `ids` that exist (one request each). */
  permissionsById(ids: readonly string[]): Promise<unknown[]>;
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
  const withRetries: WithRetries = (call, cost) =>
    retrying(call, cost, { signal, onRetry, budget, maxRetries, timeoutMs, backoffMs });
  return {
    ...userListings(client, withRetries),
    ...organizationListings(client, withRetries),
    listSubscriptionItems: (offset, limit) =>
      withRetries(() => fetchSubscriptionItems({ secretKey, apiUrl }, offset, Math.min(limit, MAX_PAGE_SIZE)), 1),
    ...teamListings(client, withRetries),
  };
}

export type BackendClient = ReturnType<typeof backendClient>;
/** One Backend API call, retried as `createClerkDirectory` says; `cost` is the requests it sends. */
export type WithRetries = <T>(call: () => Promise<T>, cost: number) => Promise<T>;

export const raws = (page: { data: { raw: unknown }[] }) => page.data.map((object) => object.raw);

/** A listing page's query: Clerk's largest page at most, oldest first (the order offsets are stable in). */
export const pageQuery = (offset: number, limit: number) =>
  ({ limit: Math.min(limit, MAX_PAGE_SIZE), offset, orderBy: "+created_at" }) as const;

type UserOrder = "+created_at" | "-updated_at";

function userListings(
  client: BackendClient,
  withRetries: WithRetries,
): Pick<ClerkDirectory, "listUsers" | "listUsersByUpdate" | "usersById"> {
  // The `GET /v1/users` getUserList sends, alone, through the client's own request (its errors, deserialized users).
  const listUsersOnly = (params: { limit: number; offset: number; orderBy: UserOrder }) =>
    (client.users as unknown as { request: (options: object) => Promise<User[]> }).request({
      method: "GET",
      path: "/users",
      queryParams: params,
    });

  const listUsersIn = async (orderBy: UserOrder, offset: number, limit: number) => {
    const params = { ...pageQuery(offset, limit), orderBy };
    const users = await withRetries(() => listUsersOnly(params), 1);
    return { users: users.map((user) => user.raw), totalCount: await withRetries(() => client.users.getCount(), 1) };
  };

  return {
    // Not `getUserList`: it sends the count with the page, so Clerk may count before a deletion that shifts the
    // page. paging.ts needs the count taken after the page was read, so it is asked for once the page is answered.
    listUsers: (offset, limit) => listUsersIn("+created_at", offset, limit),
    // Offsets in `-updated_at` order shift forward when users are created or updated (one re-read, none skipped); a
    // deletion shifts them back, which the count shows, as in creation order.
    listUsersByUpdate: (offset, limit) => listUsersIn("-updated_at", offset, limit),
    usersById: async (ids) => {
      if (ids.length === 0) return [];
      // `getUserList` is two requests: the page and `/v1/users/count`.
      return raws(
        await withRetries(() => client.users.getUserList({ userId: [...ids], limit: MAX_IDS_PER_LOOKUP }), 2),
      );
    },
  };
}

function organizationListings(
  client: BackendClient,
  withRetries: WithRetries,
): Pick<ClerkDirectory, "listOrganizations" | "organizationsById" | "listMemberships" | "membershipsOf"> {
  const listed = async (call: () => Promise<{ data: { raw: unknown }[]; totalCount: number }>) => {
    const page = await withRetries(call, 1);
    return { items: raws(page), totalCount: page.totalCount };
  };
  return {
    listOrganizations: (offset, limit) =>
      listed(() => client.organizations.getOrganizationList(pageQuery(offset, limit))),
    organizationsById: async (ids) => {
      if (ids.length === 0) return [];
      const page = await withRetries(
        () => client.organizations.getOrganizationList({ organizationId: [...ids], limit: MAX_IDS_PER_LOOKUP }),
        1,
      );
      return raws(page);
    },
    listMemberships: (offset, limit) =>
      listed(() => client.organizations.getInstanceOrganizationMembershipList(pageQuery(offset, limit))),
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
      return raws(page);
    },
  };
}
