import { isClerkAPIResponseError } from "@clerk/backend/errors";
import {
  type BackendClient,
  type ClerkDirectory,
  MAX_PAGE_SIZE,
  pageQuery,
  raws,
  type WithRetries,
} from "./backend-api.js";

/**
 * The Backend API's listings of invitations (`GET /v1/organization_invitations`, the instance's, and
 * `GET /v1/organizations/{id}/invitations`), roles (`GET /v1/organization_roles`) and permissions
 * (`GET /v1/organization_permissions`). `@clerk/backend` has no method for the instance's invitations: it is asked
 * through the client's own request, as the users' page is (backend-api.ts).
 */

type Role = Awaited<ReturnType<BackendClient["organizationRoles"]["getOrganizationRole"]>>;
type Permission = Awaited<ReturnType<BackendClient["organizationPermissions"]["getOrganizationPermission"]>>;

type TeamListings = Pick<
  ClerkDirectory,
  "listInvitations" | "invitationsOf" | "listRoles" | "rolesById" | "listPermissions" | "permissionsById"
>;

/**
 * `PermissionJSON` of a deserialized permission (roles and permissions have no `raw`, and the SDK drops `type`:
 * Clerk's system permissions are the `org:sys_…` keys).
 */
const permissionJson = (p: Permission) => ({
  object: "permission",
  id: p.id,
  key: p.key,
  name: p.name,
  description: p.description,
  type: p.key.startsWith("org:sys_") ? "system" : "custom",
  created_at: p.createdAt,
  updated_at: p.updatedAt,
});

const roleJson = (r: Role) => ({
  object: "role",
  id: r.id,
  key: r.key,
  name: r.name,
  description: r.description,
  permissions: r.permissions.map(permissionJson),
  created_at: r.createdAt,
  updated_at: r.updatedAt,
});

/** Clerk's 404 as "absent" (an id looked up that Clerk no longer has, an organization gone). */
const absentOn404 =
  <T>(fallback: T) =>
  (error: unknown) => {
    if (isClerkAPIResponseError(error) && error.status === 404) return fallback;
    throw error;
  };

export function teamListings(client: BackendClient, withRetries: WithRetries): TeamListings {
  type Request = (options: object) => Promise<{ data: { raw: unknown }[]; totalCount: number }>;
  const request = (client.organizations as unknown as { request: Request }).request.bind(client.organizations);
  const byIds =
    <T>(get: (id: string) => Promise<T>, json: (found: T) => unknown) =>
    async (ids: readonly string[]) => {
      const found = await Promise.all(
        ids.map((id) => withRetries(() => get(id).then(json).catch(absentOn404(undefined)), 1)),
      );
      return found.filter((item) => item !== undefined);
    };
  return {
    listInvitations: async (offset, limit) => {
      const queryParams = pageQuery(offset, limit);
      const page = await withRetries(
        () => request({ method: "GET", path: "/organization_invitations", queryParams }),
        1,
      );
      return { items: raws(page), totalCount: page.totalCount };
    },
    invitationsOf: async (organizationId) => {
      const all: unknown[] = [];
      for (let offset = 0; ; offset += MAX_PAGE_SIZE) {
        const page = await withRetries(
          () =>
            client.organizations
              .getOrganizationInvitationList({ organizationId, ...pageQuery(offset, MAX_PAGE_SIZE) })
              .catch(absentOn404({ data: [], totalCount: 0 })),
          1,
        );
        all.push(...raws(page));
        if (page.data.length < MAX_PAGE_SIZE) return all;
      }
    },
    listRoles: async (offset, limit) => {
      const page = await withRetries(
        () => client.organizationRoles.getOrganizationRoleList(pageQuery(offset, limit)),
        1,
      );
      return { items: page.data.map(roleJson), totalCount: page.totalCount };
    },
    rolesById: byIds((id) => client.organizationRoles.getOrganizationRole(id), roleJson),
    listPermissions: async (offset, limit) => {
      const page = await withRetries(
        () => client.organizationPermissions.getOrganizationPermissionList(pageQuery(offset, limit)),
        1,
      );
      return { items: page.data.map(permissionJson), totalCount: page.totalCount };
    },
    permissionsById: byIds((id) => client.organizationPermissions.getOrganizationPermission(id), permissionJson),
  };
}
