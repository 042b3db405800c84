import { expect } from "vitest";
import { clerkEvent, clerkUser, newUserId } from "../helpers/clerk.js";
import {
  clerkMembership,
  clerkOrganization,
  newMembershipId,
  newOrganizationId,
} from "../helpers/clerk-organizations.js";
import { clerkInvitation, clerkPermission, clerkRole, newRoleId } from "../helpers/clerk-teams.js";
import { describeResponse, type Harness } from "../helpers/harness.js";
import { asRole } from "../helpers/rls.js";

/**
 * One instance for the row-level security tests: `team` with alice (`org:admin`), bob (`org:member`) and dave (the
 * legacy `admin`), a pending invitation; `otherTeam` with the outsider; roles `org:admin` (projects managed) and
 * `org:member` (projects read).
 */
export function teamWorld() {
  const world = {
    alice: newUserId(),
    bob: newUserId(),
    dave: newUserId(),
    outsider: newUserId(),
    team: newOrganizationId(),
    otherTeam: newOrganizationId(),
    adminRole: newRoleId(),
    outsiderMembership: newMembershipId(),
  };
  return world;
}
export type TeamWorld = ReturnType<typeof teamWorld>;

export async function deliver(h: Harness, type: string, data: Record<string, unknown>) {
  const res = await h.deliver(clerkEvent(type, data));
  expect(res.status, await describeResponse(res)).toBe(200);
}

export async function buildTeamWorld(h: Harness, w: TeamWorld) {
  for (const user of [w.alice, w.bob, w.dave, w.outsider]) await deliver(h, "user.created", clerkUser({ id: user }));
  await deliver(h, "organization.created", clerkOrganization({ id: w.team, name: "Team" }));
  await deliver(h, "organization.created", clerkOrganization({ id: w.otherTeam, name: "Other" }));
  const member = (organizationId: string, userId: string, role: string, id?: string) =>
    deliver(h, "organizationMembership.created", clerkMembership({ id, organizationId, userId, role }));
  await member(w.team, w.alice, "org:admin");
  await member(w.team, w.bob, "org:member");
  await member(w.team, w.dave, "admin");
  await member(w.otherTeam, w.outsider, "org:member", w.outsiderMembership);
  await deliver(h, "organizationInvitation.created", clerkInvitation({ organizationId: w.team }));
  await deliver(h, "organizationInvitation.created", clerkInvitation({ organizationId: w.otherTeam }));
  for (const key of ["org:projects:manage", "org:projects:read"]) {
    await deliver(h, "permission.created", clerkPermission({ key }));
  }
  await deliver(
    h,
    "role.created",
    clerkRole({ id: w.adminRole, key: "org:admin", permissions: ["org:projects:manage", "org:projects:read"] }),
  );
  await deliver(h, "role.created", clerkRole({ key: "org:member", permissions: ["org:projects:read"] }));
}

/** A helper's answer for the session `claims`. */
export const helper = async (h: Harness, claims: Record<string, unknown>, call: string, params: unknown[] = []) =>
  asRole(h, "authenticated", claims, async (query) => {
    const [row] = await query<{ answer: unknown }>(`SELECT ${call} AS answer`, params);
    return row?.answer;
  });
