import { sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { type ClerkPermission, parseClerkPermission } from "../../clerk/team-events.js";
import { defineStatement } from "../../db/query.js";
import { clerkPermissionVersions, permissions, roles } from "../../db/schema.js";
import { classifyById } from "../engine/classify-by-id.js";
import { type CopiedTable, writeCopied } from "../engine/copied-rows.js";
import { defineKind } from "../engine/define-kind.js";

/**
 * Clerk's organization permissions (instance-wide: `permission.*`). A deleted permission's key is taken out of every
 * role in the same transaction, so `private.has_org_permission` answers false for it at once.
 */

type PermissionField = "key" | "name" | "description" | "type";
const COPIED = {
  key: permissions.key,
  name: permissions.name,
  description: permissions.description,
  type: permissions.type,
} as const satisfies Record<PermissionField, PgColumn>;

const permissionRows: CopiedTable = { table: permissions, keys: { id: permissions.id }, copied: COPIED };

const deletePermissions = defineStatement<{ ids: string[] }>(
  (v) => sql`WITH gone AS (
    DELETE FROM ${permissions} WHERE ${permissions.id} = ANY(${v.ids}::text[]) RETURNING key
  )
  UPDATE ${roles} r SET permissions = ARRAY(SELECT k FROM unnest(r.permissions) WITH ORDINALITY AS p(k, n)
      WHERE k NOT IN (SELECT key FROM gone) ORDER BY n)
  WHERE r.permissions && ARRAY(SELECT key FROM gone)`,
);

const idOf = (row: ClerkPermission) => row.id;
const updatedAtOf = (row: ClerkPermission) => row.updatedAt;

export const permissionKind = defineKind<ClerkPermission, PermissionField, string>({
  name: "permissions",
  noun: "permission",
  fromClerk: (raw) => ({ row: parseClerkPermission(raw) }),
  classify: classifyById({
    versions: clerkPermissionVersions,
    versionKey: clerkPermissionVersions.id,
    table: permissions,
    idOf,
    updatedAtOf,
  }),
  versions: {
    table: clerkPermissionVersions,
    key: clerkPermissionVersions.id,
    clerkUpdatedAt: clerkPermissionVersions.clerkUpdatedAt,
    deletedAt: clerkPermissionVersions.deletedAt,
  },
  copied: COPIED,
  copiedOf: (row, field) => row[field],
  inputs: { created_at: { type: "bigint", of: (row) => row.createdAt } },
  idOf,
  updatedAtOf,
  rules: {
    writes: (_, shape) => writeCopied(permissionRows, shape, { conflict: sql`(id)`, order: sql`i.id` }),
    deliveryUser: sql`NULL::text`,
  },
  removal: {
    columns: {},
    values: (id) => ({ id }),
    deliveryUser: sql`NULL::text`,
    remove: (ids) => deletePermissions({ ids }),
  },
});
