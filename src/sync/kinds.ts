import { sql } from "drizzle-orm";
import { type ClerkDirectory, MAX_IDS_PER_LOOKUP } from "../clerk/backend-api.js";
import { BACKGROUND, callDatabase } from "../db/call.js";
import {
  organizationInvitations,
  organizationMemberships,
  organizations,
  permissions,
  roles,
  users,
} from "../db/schema.js";
import type { Db } from "../db/types.js";
import type { InvitationKey } from "../provisioning/invitations/kind.js";
import { KINDS, type KindName } from "../provisioning/kinds.js";
import type { MembershipKey } from "../provisioning/memberships/kind.js";
import { chunksOf, type Pruner, type PruneSpec, pruner } from "./gone.js";
import { type PreparedPage, pageApplier } from "./page.js";
import type { ListedPage } from "./paging.js";
import { storedCount, storedIds, unlisted } from "./runs.js";

/**
 * What `npm run sync` does with each kind, in the order it lists them: how to ask Clerk for a page, the page applier
 * (the kind's verbs from provisioning/kinds.ts), and how `--prune` finds, confirms and removes what Clerk no longer
 * has. Adding a kind to the sync is an entry here.
 */

export interface SyncKind {
  name: KindName;
  /** For messages: `user`, `organization`, `membership`. */
  noun: string;
  list(directory: ClerkDirectory, offset: number, limit: number): Promise<ListedPage<unknown>>;
  /**
   * The same listing newest-updated first (`-updated_at`): an incremental sync reads it down to the kind's mark.
   * Absent when Clerk cannot order the kind's listing by update: every run then lists it whole.
   */
  listByUpdate?: SyncKind["list"] | undefined;
  prepare(db: Db, items: readonly unknown[], seen: Set<string>): PreparedPage;
  /** None for a kind Clerk never removes (subscription items stay listed once ended). */
  prune?: Pruner;
}

const idsOf = (listed: unknown[]) =>
  new Set(listed.map((raw) => (raw as { id?: unknown }).id).filter((id): id is string => typeof id === "string"));

const byId = chunksOf(MAX_IDS_PER_LOOKUP);

function syncKind<Row, Key>(
  spec: Omit<PruneSpec<Row, Key>, "lookups"> & {
    list: SyncKind["list"];
    listByUpdate?: SyncKind["list"];
    /** The event type this kind's skipped and failed rows are recorded as, for `npm run replay` (users only). */
    recordsAs?: string;
    lookups?: PruneSpec<Row, Key>["lookups"];
  },
): SyncKind {
  return {
    name: spec.name,
    noun: spec.kind.noun,
    list: spec.list,
    listByUpdate: spec.listByUpdate,
    prepare: pageApplier(spec.name, spec.kind, spec.recordsAs),
    prune: pruner({ lookups: byId, ...spec }),
  };
}

/** The stored memberships, by id; with `runId`, only those that run did not list. */
function storedMemberships(db: Db, runId?: number): Promise<MembershipKey[]> {
  const m = organizationMemberships;
  return callDatabase(BACKGROUND, () =>
    db
      .select({
        id: m.id,
        organizationId: m.organizationId,
        userId: m.userId,
        updatedAt: sql<number>`(extract(epoch from ${m.updatedAt}) * 1000)::bigint`.mapWith(Number),
      })
      .from(m)
      .where(unlisted(db, "memberships", m.id, runId))
      .orderBy(m.id),
  );
}

/** The stored invitations, by id; with `runId`, only those that run did not list. */
function storedInvitations(db: Db, runId?: number): Promise<InvitationKey[]> {
  const i = organizationInvitations;
  return callDatabase(BACKGROUND, () =>
    db
      .select({ id: i.id, organizationId: i.organizationId })
      .from(i)
      .where(unlisted(db, "invitations", i.id, runId))
      .orderBy(i.id),
  );
}

/** Memberships and invitations are looked up per organization: a lookup is cut where its organization changes. */
function perOrganization<Key extends { organizationId: string }>(candidates: readonly Key[]): Key[][] {
  const sorted = [...candidates].sort((a, b) =>
    a.organizationId < b.organizationId ? -1 : a.organizationId > b.organizationId ? 1 : 0,
  );
  const lookups: Key[][] = [];
  for (const key of sorted) {
    const last = lookups.at(-1);
    if (last && last.length < MAX_IDS_PER_LOOKUP && last[0]?.organizationId === key.organizationId) last.push(key);
    else lookups.push([key]);
  }
  return lookups;
}

export const SYNC_KINDS: Record<KindName, SyncKind> = {
  users: syncKind({
    name: "users",
    kind: KINDS.users,
    list: async (directory, offset, limit) => {
      const page = await directory.listUsers(offset, limit);
      return { items: page.users, totalCount: page.totalCount };
    },
    listByUpdate: async (directory, offset, limit) => {
      const page = await directory.listUsersByUpdate(offset, limit);
      return { items: page.users, totalCount: page.totalCount };
    },
    recordsAs: "user.updated",
    deletedAs: "user.deleted",
    count: (db) => storedCount(db, users),
    stored: (db, runId) => storedIds(db, "users", users.id, runId),
    keyId: String,
    present: async (directory, chunk) => idsOf(await directory.usersById(chunk)),
  }),
  organizations: syncKind({
    name: "organizations",
    kind: KINDS.organizations,
    list: (directory, offset, limit) => directory.listOrganizations(offset, limit),
    deletedAs: "organization.deleted",
    count: (db) => storedCount(db, organizations),
    stored: (db, runId) => storedIds(db, "organizations", organizations.id, runId),
    keyId: String,
    present: async (directory, chunk) => idsOf(await directory.organizationsById(chunk)),
  }),
  memberships: syncKind({
    name: "memberships",
    kind: KINDS.memberships,
    list: (directory, offset, limit) => directory.listMemberships(offset, limit),
    deletedAs: "organizationMembership.deleted",
    count: (db) => storedCount(db, organizationMemberships),
    stored: storedMemberships,
    keyId: (key) => key.id,
    lookups: perOrganization,
    present: async (directory, chunk) => {
      const organizationId = chunk[0]?.organizationId ?? "";
      return idsOf(await directory.membershipsOf(organizationId, [...new Set(chunk.map((m) => m.userId))]));
    },
    goesWith: (key) => [key.organizationId, key.userId],
  }),
  permissions: syncKind({
    name: "permissions",
    kind: KINDS.permissions,
    list: (directory, offset, limit) => directory.listPermissions(offset, limit),
    deletedAs: "permission.deleted",
    count: (db) => storedCount(db, permissions),
    stored: (db, runId) => storedIds(db, "permissions", permissions.id, runId),
    keyId: String,
    present: async (directory, chunk) => idsOf(await directory.permissionsById(chunk)),
  }),
  roles: syncKind({
    name: "roles",
    kind: KINDS.roles,
    list: (directory, offset, limit) => directory.listRoles(offset, limit),
    deletedAs: "role.deleted",
    count: (db) => storedCount(db, roles),
    stored: (db, runId) => storedIds(db, "roles", roles.id, runId),
    keyId: String,
    present: async (directory, chunk) => idsOf(await directory.rolesById(chunk)),
  }),
  invitations: syncKind({
    name: "invitations",
    kind: KINDS.invitations,
    list: (directory, offset, limit) => directory.listInvitations(offset, limit),
    deletedAs: "organizationInvitation.deleted",
    count: (db) => storedCount(db, organizationInvitations),
    stored: storedInvitations,
    keyId: (key) => key.id,
    lookups: perOrganization,
    present: async (directory, chunk) => idsOf(await directory.invitationsOf(chunk[0]?.organizationId ?? "")),
    goesWith: (key) => [key.organizationId],
  }),
  subscriptionItems: {
    name: "subscriptionItems",
    noun: KINDS.subscriptionItems.noun,
    list: (directory, offset, limit) => directory.listSubscriptionItems(offset, limit),
    prepare: pageApplier("subscriptionItems", KINDS.subscriptionItems, undefined),
  },
};
