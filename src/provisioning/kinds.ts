import {
  type ClerkMembership,
  type ClerkOrganization,
  parseClerkMembership,
  parseClerkOrganization,
  parseClerkUser,
} from "../clerk/events.js";
import type { CallPolicy } from "../db/call.js";
import type { RunStatement } from "../db/query.js";
import type { Db } from "../db/types.js";
import type { Counts, RowResult } from "../outcome.js";
import type { RemoveResult } from "./batch.js";
import { classifyMemberships } from "./memberships/classify.js";
import { type MembershipKey, removeMemberships, upsertMemberships } from "./memberships/verb.js";
import { classifyOrganizations } from "./organizations/classify.js";
import { removeOrganizations, upsertOrganizations } from "./organizations/verb.js";
import { classifyUsers } from "./users/classify.js";
import { removeUsers } from "./users/remove.js";
import { toUserRow, type UserRow } from "./users/row.js";
import type { DeliveryStamp } from "./users/verb.js";
import { provisionUsers } from "./users/verb.js";

/**
 * Every kind of Clerk object the service mirrors, with its verbs: the one list that the webhook, `sync` and `replay`
 * read. Adding a kind is a folder beside users/ and a line here.
 */

export type KindName = "users" | "organizations" | "memberships";

/** A Clerk object as the database stores it, or why it stores nothing (recorded with the reason). */
export type Mapped<Row> = { row: Row } | { skip: string; id: string; updatedAt: number };

export interface WriteOptions {
  stamp?: DeliveryStamp & { reason?: string };
  policy?: CallPolicy;
}

export interface Kind<Row, Key> {
  name: KindName;
  /** For messages: `user`, `organization`, `membership`. */
  noun: string;
  /** A Clerk JSON object (a webhook's `data`, a listing's item): throws `invalid_payload` naming the field. */
  fromClerk(raw: unknown): Mapped<Row>;
  idOf(row: Row): string;
  /** Writes rows (created/updated unless stale); one statement, on `target`'s transaction when it is one. */
  write(target: Db | RunStatement, rows: readonly Row[], options?: WriteOptions): Promise<Written<RowResult>[]>;
  /** Removes, tombstoning first, as the kind's `.deleted` event does. */
  remove(target: Db | RunStatement, keys: readonly Key[], options?: WriteOptions): Promise<Written<RemoveResult>[]>;
  /** `--dry-run`: what writing `rows` would come to, read only, counted as a sync counts. */
  classify(db: Db, rows: readonly Row[]): Promise<Counts>;
}

export interface Written<R> {
  id: string;
  result: R;
}

const users: Kind<UserRow, string> = {
  name: "users",
  noun: "user",
  fromClerk: (raw) => {
    const user = parseClerkUser(raw);
    const mapped = toUserRow(user);
    return mapped.kind === "row"
      ? { row: mapped.row }
      : { skip: mapped.reason, id: user.id, updatedAt: user.updatedAt };
  },
  idOf: (row) => row.userId,
  write: async (target, rows, options) =>
    (await provisionUsers(target, rows, options)).map((w) => ({ id: w.userId, result: w.result })),
  remove: async (target, ids, options) =>
    (await removeUsers(target, ids, options)).map((r) => ({ id: r.userId, result: r.result })),
  classify: classifyUsers,
};

const organizations: Kind<ClerkOrganization, string> = {
  name: "organizations",
  noun: "organization",
  fromClerk: (raw) => ({ row: parseClerkOrganization(raw) }),
  idOf: (row) => row.id,
  write: upsertOrganizations,
  remove: removeOrganizations,
  classify: classifyOrganizations,
};

const memberships: Kind<ClerkMembership, MembershipKey> = {
  name: "memberships",
  noun: "membership",
  fromClerk: (raw) => ({ row: parseClerkMembership(raw) }),
  idOf: (row) => row.id,
  write: upsertMemberships,
  remove: removeMemberships,
  classify: classifyMemberships,
};

export const KINDS = { users, organizations, memberships } as const;
