import { isClerkAPIResponseError } from "@clerk/backend/errors";
import { isServiceError } from "../errors.js";
import { backendClient, clerkUnavailable } from "./backend-api.js";
import {
  type ClerkMembership,
  type ClerkOrganization,
  type ClerkUser,
  parseClerkEvent,
  parseClerkMembership,
  parseClerkOrganization,
} from "./events.js";
import type { ClerkOptions } from "./session.js";

/**
 * The service's just-in-time lookups (`/v1/me`), through the real `@clerk/backend` client: Clerk's `raw` JSON goes
 * through the webhook's zod schemas, and a 404 means Clerk has no such object (deleted).
 */

/** What Clerk says about a user id right now. */
export type ClerkUserLookup = { kind: "found"; user: ClerkUser } | { kind: "deleted" };
export type FetchClerkUser = (userId: string) => Promise<ClerkUserLookup>;

/** An organization and one user's membership in it, as Clerk has them now (`deleted`: Clerk has no such organization). */
export type ClerkOrganizationLookup =
  | { kind: "found"; organization: ClerkOrganization; membership: ClerkMembership | undefined }
  | { kind: "deleted" };
export type FetchClerkOrganization = (organizationId: string, userId: string) => Promise<ClerkOrganizationLookup>;

const LOOKUP_TIMEOUT_MS = 5_000;

type Client = ReturnType<typeof backendClient>;

/**
 * One lookup within `timeoutMs`: Clerk's 404 is `deleted`; anything else that is not an answer (no key, a timeout,
 * another status, an unreadable body) is `clerk_unavailable`.
 */
function lookupWith<A extends unknown[], T>(
  options: Pick<ClerkOptions, "secretKey" | "apiUrl">,
  timeoutMs: number,
  ask: (client: Client, ...args: A) => Promise<T>,
): (...args: A) => Promise<T | { kind: "deleted" }> {
  const { secretKey, apiUrl } = options;
  const client = secretKey ? backendClient({ secretKey, apiUrl }) : undefined;
  return async (...args) => {
    if (!client) throw clerkUnavailable("CLERK_SECRET_KEY is not set");
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        ask(client, ...args),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(clerkUnavailable("timeout")), timeoutMs);
        }),
      ]);
    } catch (error) {
      if (isClerkAPIResponseError(error) && error.status === 404) return { kind: "deleted" };
      if (isServiceError(error, "clerk_unavailable")) throw error;
      if (isClerkAPIResponseError(error)) throw clerkUnavailable(`status ${error.status ?? "none"}`);
      throw clerkUnavailable(error instanceof Error ? error.name : "unknown");
    } finally {
      clearTimeout(timer);
    }
  };
}

/** `users.getUser`. */
export function createClerkUserFetcher(
  options: Pick<ClerkOptions, "secretKey" | "apiUrl">,
  timeoutMs = LOOKUP_TIMEOUT_MS,
): FetchClerkUser {
  return lookupWith(options, timeoutMs, async (client, userId: string): Promise<ClerkUserLookup> => {
    const user = await client.users.getUser(userId);
    const event = parseClerkEvent({ type: "user.updated", data: user.raw });
    if (event.type !== "user.updated" || event.user.id !== userId) throw clerkUnavailable("unexpected user");
    return { kind: "found", user: event.user };
  });
}

/**
 * `organizations.getOrganization`, then `getOrganizationMembershipList({organizationId, userId})`: one after the
 * other, so that an organization Clerk does not have (a made-up id) costs one request, not two.
 */
export function createClerkOrganizationFetcher(
  options: Pick<ClerkOptions, "secretKey" | "apiUrl">,
  timeoutMs = LOOKUP_TIMEOUT_MS,
): FetchClerkOrganization {
  return lookupWith(
    options,
    timeoutMs,
    async (client, organizationId: string, userId: string): Promise<ClerkOrganizationLookup> => {
      const organization = parseClerkOrganization((await client.organizations.getOrganization({ organizationId })).raw);
      // Clerk also finds an organization by its slug: another id is not the organization the token names.
      if (organization.id !== organizationId) return { kind: "deleted" };
      const memberships = await client.organizations.getOrganizationMembershipList({
        organizationId,
        userId: [userId],
        limit: 1,
      });
      const membership = memberships.data
        .map((m) => parseClerkMembership(m.raw))
        .find((m) => m.userId === userId && m.organizationId === organizationId);
      return { kind: "found", organization, membership };
    },
  );
}
