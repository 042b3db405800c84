import type { Answer, FakeClerkApi, FakeRequest, Listings } from "./fake-clerk-api.js";
import { notFound, paginated } from "./fake-clerk-api.js";

/**
 * The fake Clerk's invitation, role and permission routes; undefined for any other path:
 * `GET /v1/organization_invitations` (the instance's), `GET /v1/organizations/:id/invitations`,
 * `GET /v1/organization_roles[/:id]` and `GET /v1/organization_permissions[/:id]`.
 */
export function answerTeams(api: FakeClerkApi, request: FakeRequest, listings: Listings): Answer | undefined {
  const { path, query } = request;
  if (path === "/v1/organization_invitations") return paginated(listings.invitations(), query);
  if (path === "/v1/organization_roles") return paginated(listings.roles(), query);
  if (path === "/v1/organization_permissions") return paginated(listings.permissions(), query);
  const invitations = /^\/v1\/organizations\/([^/]+)\/invitations$/.exec(path);
  if (invitations?.[1]) {
    const organizationId = decodeURIComponent(invitations[1]);
    if (!api.organizations.has(organizationId)) return notFound;
    return paginated(
      listings.invitations().filter((i) => i.organization_id === organizationId),
      query,
    );
  }
  const one = /^\/v1\/organization_(roles|permissions)\/([^/]+)$/.exec(path);
  if (!one?.[1] || !one[2]) return undefined;
  const found = (one[1] === "roles" ? api.roles : api.permissions).get(decodeURIComponent(one[2]));
  return found ? { status: 200, body: found } : notFound;
}
