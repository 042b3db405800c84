import { eq, sql } from "drizzle-orm";
import type { FetchClerkUser } from "../clerk/lookups.js";
import { callDatabase, REQUEST } from "../db/call.js";
import { defineStatement, runStatement } from "../db/query.js";
import { clerkDeliveries, clerkUserVersions, users, workspaces } from "../db/schema.js";
import type { Db } from "../db/types.js";
import { ServiceError } from "../errors.js";
import type { Outcome } from "../outcome.js";
import { applyClerkEvent } from "../provisioning/apply-clerk-event.js";
import type { EventWriter } from "../provisioning/coalesce/coalescer.js";
import { deliveryIds } from "../provisioning/deliveries.js";
import type { LookupCache } from "./lookup-cache.js";

export interface AccountUser {
  id: string;
  email: string;
  username: string;
  firstName: string | null;
  lastName: string | null;
  avatarUrl: string | null;
  subscriptionTier: string;
  storageUsed: number;
  storageLimit: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface AccountWorkspace {
  id: string;
  name: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface Account {
  user: AccountUser;
  workspace: AccountWorkspace;
}

/** `deleted`: gone in Clerk or tombstoned here. `unprovisionable`: Clerk has it, but with no usable e-mail. */
export type AccountLookup =
  | { kind: "found"; account: Account; provisioned: Outcome | undefined }
  | { kind: "deleted" }
  | { kind: "unprovisionable" };

const userColumns = {
  id: users.id,
  email: users.email,
  username: users.username,
  firstName: users.firstName,
  lastName: users.lastName,
  avatarUrl: users.avatarUrl,
  subscriptionTier: users.subscriptionTier,
  storageUsed: users.storageUsed,
  storageLimit: users.storageLimit,
  createdAt: users.createdAt,
  updatedAt: users.updatedAt,
};

const workspaceColumns = {
  id: workspaces.id,
  name: workspaces.name,
  createdAt: workspaces.createdAt,
  updatedAt: workspaces.updatedAt,
};

/** The user and its workspace, in one statement (a JOIN); undefined when not provisioned (or deleted). */
export async function readAccount(db: Db, userId: string): Promise<Account | undefined> {
  const rows = await callDatabase(REQUEST, () =>
    db
      .select({ user: userColumns, workspace: workspaceColumns })
      .from(users)
      .innerJoin(workspaces, eq(workspaces.userId, users.id))
      .where(eq(users.id, userId)),
  );
  return rows[0];
}

/**
 * Why a user has no account: `deleted` when a `user.deleted` was applied (it must never come back), `skipped` when
 * the delivery `deliveryId` was recorded as skipped (Clerk's user has no usable e-mail), else undefined.
 */
const missingReasonStatement = defineStatement<{ userId: string; deliveryId: string | null }>(
  (v) => sql`SELECT
    EXISTS (SELECT 1 FROM ${clerkUserVersions} WHERE ${clerkUserVersions.userId} = ${v.userId}::text
      AND ${clerkUserVersions.deletedAt} IS NOT NULL) AS deleted,
    EXISTS (SELECT 1 FROM ${clerkDeliveries} WHERE ${clerkDeliveries.deliveryId} = ${v.deliveryId}::text
      AND ${clerkDeliveries.outcome} = 'skipped') AS skipped`,
);

async function missingReason(db: Db, userId: string, deliveryId: string | undefined) {
  const [row] = await runStatement<{ deleted: boolean; skipped: boolean }>(
    db,
    missingReasonStatement({ userId, deliveryId: deliveryId ?? null }),
  );
  if (row?.deleted) return "deleted";
  if (row?.skipped) return "skipped";
  return undefined;
}

export interface EnsureAccountDeps {
  db: Db;
  fetchClerkUser: FetchClerkUser;
  /** Shares concurrent provisionings of one user and remembers "not provisionable" (see lookup-cache.ts). */
  cache?: LookupCache;
  /** How the user is written (the app's coalescer); alone by default. */
  writer?: EventWriter;
}

/**
 * The account of a verified Clerk user, provisioned just in time when the webhook has not arrived yet: the user is
 * fetched from Clerk and applied as a `user.updated` through the webhook's own statement, so whichever of the two
 * comes first provisions and the other is `stale` (same `updated_at`) and changes nothing. A tombstone or a 404 from
 * Clerk answers `deleted` and writes nothing.
 */
export async function ensureAccount(deps: EnsureAccountDeps, userId: string): Promise<AccountLookup> {
  const { db, cache } = deps;
  const existing = (await readAccount(db, userId)) ?? (await restoreWorkspace(db, userId));
  if (existing) return { kind: "found", account: existing, provisioned: undefined };
  if ((await missingReason(db, userId, undefined)) === "deleted") return { kind: "deleted" };
  if (!cache) return provisionFromClerk(deps, userId);
  if (cache.isUnprovisionable(userId)) return { kind: "unprovisionable" };
  return cache.shared(userId, () => provisionFromClerk(deps, userId));
}

async function provisionFromClerk(
  { db, fetchClerkUser, writer }: EnsureAccountDeps,
  userId: string,
): Promise<AccountLookup> {
  const lookup = await fetchClerkUser(userId);
  if (lookup.kind === "deleted") return { kind: "deleted" };
  const { user } = lookup;
  // The same Clerk state always gets the same id: repeats and concurrent requests are duplicates of one delivery.
  const deliveryId = deliveryIds.justInTime(user.id, user.updatedAt);
  const outcome = await applyClerkEvent(
    db,
    { deliveryId, receivedAt: new Date(), event: { type: "user.updated", user } },
    writer,
  );

  const account = await readAccount(db, userId);
  if (account) return { kind: "found", account, provisioned: outcome };
  // Not there after applying: deleted meanwhile (its tombstone made our event stale), Clerk's user has no usable
  // e-mail (recorded as skipped, now or by an earlier identical request), or a damaged account.
  const reason = await missingReason(db, userId, deliveryId);
  if (reason === "deleted") return { kind: "deleted" };
  if (reason === "skipped") return { kind: "unprovisionable" };
  throw new ServiceError("internal", `account still missing after just-in-time provisioning (${outcome})`);
}

/**
 * "Every user has exactly one workspace", restored for a user whose workspace row is gone (removed by hand, a bad
 * migration): the account once restored, or undefined when there is no such user.
 */
const restoreWorkspaceStatement = defineStatement<{ userId: string }>(
  (v) => sql`INSERT INTO ${workspaces} (user_id) SELECT ${users.id} FROM ${users} WHERE ${users.id} = ${v.userId}::text
    ON CONFLICT (user_id) DO NOTHING RETURNING id`,
);

async function restoreWorkspace(db: Db, userId: string): Promise<Account | undefined> {
  const restored = await runStatement<{ id: string }>(db, restoreWorkspaceStatement({ userId }));
  return restored.length > 0 ? readAccount(db, userId) : undefined;
}

/** Renames the user's own workspace (the only one it can reach); undefined when the user has none. */
export async function renameWorkspace(db: Db, userId: string, name: string): Promise<AccountWorkspace | undefined> {
  const rows = await callDatabase(REQUEST, () =>
    db
      .update(workspaces)
      .set({ name, updatedAt: sql`now()` })
      .where(eq(workspaces.userId, userId))
      .returning(workspaceColumns),
  );
  return rows[0];
}
