import { createClerkClient } from "@clerk/backend";
import { isClerkAPIResponseError } from "@clerk/backend/errors";
import { isServiceError } from "../errors.js";
import { clerkUnavailable } from "./backend-api.js";
import {
  type ClerkMembership,
  type ClerkOrganization,
  parseClerkMembership,
  parseClerkOrganization,
} from "./events.js";
import type { ClerkOptions } from "./session.js";

/** An organization and one user's membership in it, as Clerk has them now (`deleted`: Clerk has no such organization). */
export type ClerkOrganizationLookup =
  | { kind: "found"; organization: ClerkOrganization; membership: ClerkMembership | undefined }
  | { kind: "deleted" };

export type FetchClerkOrganization = (organizationId: string, userId: string) => Promise<ClerkOrganizationLookup>;

const LOOKUP_TIMEOUT_MS = 5_000;

/**
 * `organizations.getOrganization` and `getOrganizationMembershipList({organizationId, userId})` through the real
 * `@clerk/backend` client; their `raw` JSON goes through the webhook's zod schemas.
 */
export function createClerkOrganizationFetcher(
  options: Pick<ClerkOptions, "secretKey" | "apiUrl">,
  timeoutMs = LOOKUP_TIMEOUT_MS,
): FetchClerkOrganization {
  const { secretKey, apiUrl } = options;
  const client = secretKey
    ? createClerkClient({ secretKey, ...(apiUrl ? { apiUrl } : {}), telemetry: { disabled: true } })
    : undefined;
  return async (organizationId, userId) => {
    if (!client) throw clerkUnavailable("CLERK_SECRET_KEY is not set");
    let timer: NodeJS.Timeout | undefined;
    try {
      const lookup = Promise.all([
        client.organizations.getOrganization({ organizationId }),
        client.organizations.getOrganizationMembershipList({ organizationId, userId: [userId], limit: 1 }),
      ]);
      const [organization, memberships] = await Promise.race([
        lookup,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(clerkUnavailable("timeout")), timeoutMs);
        }),
      ]);
      const membership = memberships.data
        .map((m) => parseClerkMembership(m.raw))
        .find((m) => m.userId === userId && m.organizationId === organizationId);
      return { kind: "found", organization: parseClerkOrganization(organization.raw), membership };
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
