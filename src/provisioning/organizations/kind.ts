import { sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { type ClerkOrganization, parseClerkOrganization } from "../../clerk/events.js";
import { defineStatement } from "../../db/query.js";
import {
  clerkOrganizationVersions,
  organizationInvitations,
  organizations,
  subscriptionItems,
} from "../../db/schema.js";
import { type CopiedTable, writeCopied } from "../engine/copied-rows.js";
import { defineKind } from "../engine/define-kind.js";
import { classifyOrganizations } from "./classify.js";

/**
 * Clerk Organizations (team workspaces), for every caller: the webhook and `/v1/me` (a batch of one, with its
 * delivery), `npm run sync` (a page). Every write of an organization or of its memberships takes its version row's
 * lock first (memberships/kind.ts), so they are serialised with each other and with the organization's deletion.
 */

/** The fields of a parsed organization stored as Clerk sends them, each in its column. */
export type OrganizationField = Exclude<keyof ClerkOrganization, "id" | "createdAt" | "updatedAt">;
const COPIED = {
  name: organizations.name,
  slug: organizations.slug,
  imageUrl: organizations.imageUrl,
  createdBy: organizations.createdBy,
} as const satisfies Record<OrganizationField, PgColumn>;

/** The organizations table as the engine writes it (by input column); memberships insert their embedded copy. */
export const organizationRows: CopiedTable = {
  table: organizations,
  keys: { id: organizations.id },
  copied: Object.fromEntries(Object.values(COPIED).map((column) => [column.name, column])),
};
export const ORGANIZATION_FIELDS = Object.entries(COPIED) as [OrganizationField, PgColumn][];

/**
 * Deleting an organization deletes its memberships (the foreign key cascades), its invitations (no foreign key) and
 * its subscription items.
 */
const deleteOrganizations = defineStatement<{ ids: string[] }>(
  (v) => sql`WITH invitations AS (
    DELETE FROM ${organizationInvitations} WHERE ${organizationInvitations.organizationId} = ANY(${v.ids}::text[])
  ), items AS (
    DELETE FROM ${subscriptionItems} WHERE ${subscriptionItems.payerType} = 'organization'
      AND ${subscriptionItems.payerId} = ANY(${v.ids}::text[])
  )
  DELETE FROM ${organizations} WHERE ${organizations.id} = ANY(${v.ids}::text[])`,
);

export const organizationKind = defineKind<ClerkOrganization, OrganizationField, string>({
  name: "organizations",
  noun: "organization",
  fromClerk: (raw) => ({ row: parseClerkOrganization(raw) }),
  classify: classifyOrganizations,
  versions: {
    table: clerkOrganizationVersions,
    key: clerkOrganizationVersions.organizationId,
    clerkUpdatedAt: clerkOrganizationVersions.clerkUpdatedAt,
    deletedAt: clerkOrganizationVersions.deletedAt,
  },
  copied: COPIED,
  copiedOf: (row, field) => row[field],
  inputs: { created_at: { type: "bigint", of: (row) => row.createdAt } },
  idOf: (row) => row.id,
  updatedAtOf: (row) => row.updatedAt,
  rules: {
    writes: (_, shape) => writeCopied(organizationRows, shape, { conflict: sql`(id)`, order: sql`i.id` }),
    deliveryUser: sql`NULL::text`,
  },
  removal: {
    columns: {},
    values: (id) => ({ id }),
    deliveryUser: sql`NULL::text`,
    remove: (ids) => deleteOrganizations({ ids }),
  },
});
