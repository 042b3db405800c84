import { sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { type ClerkRole, parseClerkRole } from "../../clerk/team-events.js";
import { defineStatement } from "../../db/query.js";
import { clerkRoleVersions, roles } from "../../db/schema.js";
import { classifyById } from "../engine/classify-by-id.js";
import { type CopiedTable, writeCopied } from "../engine/copied-rows.js";
import { defineKind } from "../engine/define-kind.js";

/**
 * Clerk's organization roles (instance-wide: `role.*`), each with the keys of its permissions, which
 * `private.has_org_permission` reads. A role's key may change (same id: updated in place). A key held by another
 * stored role id (deleted in Clerk, its `role.deleted` not in yet) refuses the write (`constraint_violation`, 422:
 * Svix retries it, and it goes through once the deletion is in).
 */

type RoleField = "key" | "name" | "description";
const COPIED = { key: roles.key, name: roles.name, description: roles.description } as const satisfies Record<
  RoleField,
  PgColumn
>;

const roleRows: CopiedTable = {
  table: roles,
  keys: { id: roles.id },
  copied: { ...COPIED, permissions: roles.permissions },
};

const deleteRoles = defineStatement<{ ids: string[] }>(
  (v) => sql`DELETE FROM ${roles} WHERE ${roles.id} = ANY(${v.ids}::text[])`,
);

const idOf = (row: ClerkRole) => row.id;
const updatedAtOf = (row: ClerkRole) => row.updatedAt;

export const roleKind = defineKind<ClerkRole, RoleField, string>({
  name: "roles",
  noun: "role",
  fromClerk: (raw) => ({ row: parseClerkRole(raw) }),
  classify: classifyById({
    versions: clerkRoleVersions,
    versionKey: clerkRoleVersions.id,
    table: roles,
    idOf,
    updatedAtOf,
  }),
  versions: {
    table: clerkRoleVersions,
    key: clerkRoleVersions.id,
    clerkUpdatedAt: clerkRoleVersions.clerkUpdatedAt,
    deletedAt: clerkRoleVersions.deletedAt,
  },
  copied: COPIED,
  copiedOf: (row, field) => row[field],
  // A JSON array in one text value: a page binds one array per column, and arrays of arrays must be rectangular.
  inputs: {
    created_at: { type: "bigint", of: (row) => row.createdAt },
    permission_keys: { type: "text", of: (row) => JSON.stringify(row.permissions) },
  },
  idOf,
  updatedAtOf,
  rules: {
    writes: (_, shape) =>
      writeCopied(roleRows, shape, {
        conflict: sql`(id)`,
        order: sql`i.id`,
        computed: sql`, ARRAY(SELECT jsonb_array_elements_text(i.permission_keys::jsonb)) AS permissions`,
      }),
    deliveryUser: sql`NULL::text`,
  },
  removal: {
    columns: {},
    values: (id) => ({ id }),
    deliveryUser: sql`NULL::text`,
    remove: (ids) => deleteRoles({ ids }),
  },
});
