import { sql } from "drizzle-orm";
import type { ClerkInvitation } from "../../clerk/team-events.js";
import { clerkInvitationVersions, clerkOrganizationVersions, organizationInvitations } from "../../db/schema.js";
import { classifyById } from "../engine/classify-by-id.js";

/** `--dry-run`: what a page of invitations would come to, read only (deleted with their organization too). */
export const classifyInvitations = classifyById<ClerkInvitation>({
  versions: clerkInvitationVersions,
  versionKey: clerkInvitationVersions.id,
  table: organizationInvitations,
  parentGone: sql`EXISTS (SELECT 1 FROM ${clerkOrganizationVersions} o WHERE o.organization_id = i.parent
    AND o.deleted_at IS NOT NULL)`,
  parentOf: (row) => row.organizationId,
  idOf: (row) => row.id,
  updatedAtOf: (row) => row.updatedAt,
});
