import { invitationKind } from "./invitations/kind.js";
import { membershipKind } from "./memberships/kind.js";
import { organizationKind } from "./organizations/kind.js";
import { permissionKind } from "./permissions/kind.js";
import { roleKind } from "./roles/kind.js";
import { subscriptionItemKind } from "./subscription-items/kind.js";
import { userKind } from "./users/kind.js";

/**
 * Every kind of Clerk object the service mirrors: the one list that the webhook, `sync` and `replay` read. Adding a
 * kind is a folder beside users/ and a line here (docs/architecture.md).
 */
export const KINDS = {
  users: userKind,
  organizations: organizationKind,
  memberships: membershipKind,
  subscriptionItems: subscriptionItemKind,
  invitations: invitationKind,
  roles: roleKind,
  permissions: permissionKind,
} as const;

export type { Kind, WriteOptions, Written } from "./engine/define-kind.js";
export type { KindName, Mapped } from "./engine/spec.js";
