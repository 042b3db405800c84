import { createClerkClient } from "@clerk/backend";
import { isClerkAPIResponseError } from "@clerk/backend/errors";
import { type ClerkUser, parseClerkEvent } from "./events.js";
import type { ClerkOptions } from "./session.js";

/** What Clerk says about a user id right now. */
export type ClerkUserLookup = { kind: "found"; user: ClerkUser } | { kind: "deleted" };

export type FetchClerkUser = (userId: string) => Promise<ClerkUserLookup>;

/** The Backend API could not answer (not configured, unreachable, too slow, 5xx, 429, or an answer we cannot read). */
export class ClerkUnavailableError extends Error {
  constructor(readonly detail: string) {
    super(`Clerk Backend API unavailable (${detail})`);
    this.name = "ClerkUnavailableError";
  }
}

const LOOKUP_TIMEOUT_MS = 5_000;

/**
 * `users.getUser` through the real `@clerk/backend` client; Clerk's `UserJSON` (`user.raw`) goes through the same
 * zod schema as a webhook's `data`. A 404 means the user was deleted in Clerk.
 */
export function createClerkUserFetcher(
  options: Pick<ClerkOptions, "secretKey" | "apiUrl">,
  timeoutMs = LOOKUP_TIMEOUT_MS,
): FetchClerkUser {
  const { secretKey, apiUrl } = options;
  const client = secretKey
    ? createClerkClient({ secretKey, ...(apiUrl ? { apiUrl } : {}), telemetry: { disabled: true } })
    : undefined;
  return async (userId) => {
    if (!client) throw new ClerkUnavailableError("CLERK_SECRET_KEY is not set");
    let timer: NodeJS.Timeout | undefined;
    try {
      const user = await Promise.race([
        client.users.getUser(userId),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new ClerkUnavailableError("timeout")), timeoutMs);
        }),
      ]);
      const event = parseClerkEvent({ type: "user.updated", data: user.raw });
      if (event.type !== "user.updated" || event.user.id !== userId) throw new ClerkUnavailableError("unexpected user");
      return { kind: "found", user: event.user };
    } catch (error) {
      if (isClerkAPIResponseError(error) && error.status === 404) return { kind: "deleted" };
      if (error instanceof ClerkUnavailableError) throw error;
      if (isClerkAPIResponseError(error)) throw new ClerkUnavailableError(`status ${error.status ?? "none"}`);
      throw new ClerkUnavailableError(error instanceof Error ? error.name : "unknown");
    } finally {
      clearTimeout(timer);
    }
  };
}
