import { parseClerkEvent } from "../../src/clerk/events.js";
import type { Db } from "../../src/db/types.js";
import { applyClerkEvent } from "../../src/provisioning/apply-clerk-event.js";
import { type FakeClerkApi, startFakeClerkApi, TEST_CLERK_SECRET_KEY } from "../../support/fake-clerk-api.js";
import { clerkUser, newSvixId, newUserId, type UserOptions } from "./clerk.js";
import { clerkMembership, clerkOrganization, type OrganizationOptions } from "./clerk-organizations.js";
import type { CliDatabase } from "./cli.js";
import type { TestDatabase } from "./database.js";

/** A Clerk object as the Backend API answers it (`UserJSON`, `OrganizationJSON`, …). */
export type ClerkJson = Record<string, unknown> & { id: string };

/** A Clerk event as a webhook carries it. */
export type ClerkEventInput = [type: string, data: Record<string, unknown>];

/** Applies one Clerk event through the webhook's code, as its delivery would have; the outcome. */
export function applyEvent(db: Db, [type, data]: ClerkEventInput, deliveryId = newSvixId()): Promise<string> {
  return applyClerkEvent(db, { deliveryId, receivedAt: new Date(), event: parseClerkEvent({ type, data }) });
}

/** The sync's and replay's world: the fake Clerk Backend API and a database of the test's own. */
export interface SyncHarness<D> {
  api: FakeClerkApi;
  database: D;
  /** A user in (fake) Clerk, listed after every object added before it. */
  userInClerk(options?: UserOptions): ClerkJson;
  /** An organization in (fake) Clerk, listed after every object added before it. */
  organizationInClerk(options?: OrganizationOptions): ClerkJson;
  /** A membership in (fake) Clerk, embedding its organization as Clerk does. */
  membershipInClerk(
    organization: ClerkJson,
    options?: { userId?: string; role?: string; updatedAt?: number },
  ): ClerkJson;
  /**
   * Leaves the first request for the listing `path` (`/v1/users`, `/v1/organizations`) at `offset` unanswered, as a
   * Clerk that hangs; `held()` says whether it has come.
   */
  hangOnce(path: string, offset: number): { held(): boolean };
  /** Applies the events one after the other through the webhook's code; their outcomes. */
  deliver(...events: ClerkEventInput[]): Promise<string[]>;
  /** Closes the fake API and the database. */
  close(): Promise<void>;
}

/** For the commands under test (`npm run sync`, `replay`), which open the database themselves. */
export interface CommandHarness extends SyncHarness<CliDatabase> {
  /** The command's environment: the database's variables, the fake API's URL and key, then `extra`. */
  env(extra?: Record<string, string>): Record<string, string>;
}

/** For the sync's code called in this process, on `database.db`. */
export function openSyncHarness(database: TestDatabase): Promise<SyncHarness<TestDatabase>> {
  return openOn(database, (work) => work(database.db));
}

export async function openCommandHarness(database: CliDatabase): Promise<CommandHarness> {
  const h = await openOn(database, database.withDb);
  return {
    ...h,
    env: (extra = {}) => ({
      ...database.env,
      CLERK_SECRET_KEY: TEST_CLERK_SECRET_KEY,
      CLERK_API_URL: h.api.url,
      ...extra,
    }),
  };
}

async function openOn<D extends { close(): Promise<void> }>(
  database: D,
  withDb: (work: (db: Db) => Promise<string[]>) => Promise<string[]>,
): Promise<SyncHarness<D>> {
  const api = await startFakeClerkApi();
  // Clerk lists in creation order: each object is created after the ones before it.
  let created = 0;
  const nextCreatedAt = () => 1_700_000_000_000 + created++;
  return {
    api,
    database,
    userInClerk: (options = {}) => {
      const raw = clerkUser(options);
      const user: ClerkJson = { ...raw, id: raw.id as string, created_at: nextCreatedAt() };
      api.users.set(user.id, user);
      return user;
    },
    organizationInClerk: (options = {}) => {
      const organization = clerkOrganization({ createdAt: nextCreatedAt(), ...options }) as ClerkJson;
      api.organizations.set(organization.id, organization);
      return organization;
    },
    membershipInClerk: (organization, options = {}) => {
      const createdAt = nextCreatedAt();
      const membership = clerkMembership({
        organizationId: organization.id,
        userId: options.userId ?? newUserId(),
        organization,
        createdAt,
        updatedAt: options.updatedAt ?? createdAt,
        ...(options.role ? { role: options.role } : {}),
      }) as ClerkJson;
      api.memberships.set(membership.id, membership);
      return membership;
    },
    hangOnce: (path, offset) => {
      let held = false;
      api.intercept = (request) => {
        if (held || request.path !== path || request.query.get("offset") !== String(offset)) return undefined;
        held = true;
        return { status: 200, hang: true };
      };
      return { held: () => held };
    },
    deliver: (...events) =>
      withDb(async (db) => {
        const outcomes: string[] = [];
        for (const event of events) outcomes.push(await applyEvent(db, event));
        return outcomes;
      }),
    close: async () => {
      await api.close();
      await database.close();
    },
  };
}
