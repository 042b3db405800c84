import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { newUserId } from "../helpers/clerk.js";
import { clerkInvitation, clerkPermission, clerkRole } from "../helpers/clerk-teams.js";
import { cliDatabases, expectExit, jsonOf, runCli } from "../helpers/cli.js";
import { type ClerkJson, type CommandHarness, openCommandHarness } from "../helpers/sync-harness.js";

interface KindSummary {
  listed: number;
  created: number;
  updated: number;
  unchanged: number;
  skipped: Record<string, number>;
  pruned: number;
  prune: { candidates: number; gone: number; ids: string[] } | null;
}
type Summary = { status: string } & Record<"invitations" | "roles" | "permissions", KindSummary>;

const TIMEOUT = 120_000;

describe.each(cliDatabases())("npm run sync: invitations, roles and permissions on $name", ({ open }) => {
  let h: CommandHarness;
  beforeEach(async () => {
    h = await openCommandHarness(await open());
  });
  afterEach(() => h?.close());

  const sync = async (args: string[] = []) => {
    const result = await runCli("sync", ["--json", "--page-size", "2", ...args], h.env());
    expectExit(result, 0);
    return jsonOf<Summary>(result);
  };
  let created = 1_700_000_000_000;
  const put = (map: Map<string, Record<string, unknown>>, json: Record<string, unknown>) => {
    const object = { ...json, id: String(json.id), created_at: created++ };
    map.set(object.id, object);
    return object;
  };
  const invitationInClerk = (organizationId: string, extra: Record<string, unknown> = {}) =>
    put(h.api.invitations, { ...clerkInvitation({ organizationId }), ...extra });
  const stored = (sql: string) => h.database.query<Record<string, unknown>>(sql);

  /** Two organizations with three invitations; three permissions; two roles. */
  const seed = () => {
    const team = h.organizationInClerk();
    const other = h.organizationInClerk();
    const invitations = [
      invitationInClerk(team.id, { email_address: "Ada@Example.COM" }),
      invitationInClerk(team.id),
      invitationInClerk(other.id),
    ];
    const keys = ["org:projects:manage", "org:projects:read", "org:sys_memberships:read"];
    const permissions = keys.map((key) => put(h.api.permissions, clerkPermission({ key })));
    const admin = put(h.api.roles, clerkRole({ key: "org:admin", permissions: keys }));
    const member = put(h.api.roles, clerkRole({ key: "org:member", permissions: ["org:projects:read"] }));
    return { team, other, invitations, permissions, admin, member };
  };

  test(
    "back-fills invitations (per organization in Clerk's instance listing), roles with their permission keys, and permissions; a re-run changes nothing",
    async () => {
      const { team, invitations, admin } = seed();
      const first = await sync();
      expect(first).toMatchObject({
        status: "completed",
        invitations: { listed: 3, created: 3 },
        roles: { listed: 2, created: 2 },
        permissions: { listed: 3, created: 3 },
      });
      expect(
        await stored(`SELECT email_address, status FROM organization_invitations WHERE id = '${invitations[0]?.id}'`),
      ).toEqual([{ email_address: "ada@example.com", status: "pending" }]);
      expect(await stored(`SELECT permissions FROM roles WHERE id = '${admin.id}'`)).toEqual([
        { permissions: ["org:projects:manage", "org:projects:read", "org:sys_memberships:read"] },
      ]);
      expect(await stored("SELECT key, type FROM permissions ORDER BY key")).toEqual([
        { key: "org:projects:manage", type: "custom" },
        { key: "org:projects:read", type: "custom" },
        { key: "org:sys_memberships:read", type: "system" },
      ]);
      expect(
        await stored(
          `SELECT members, pending_invitations FROM organization_seats WHERE organization_id = '${team.id}'`,
        ),
      ).toEqual([{ members: 0, pending_invitations: 2 }]);
      const again = await sync();
      for (const kind of ["invitations", "roles", "permissions"] as const) {
        expect(again[kind]).toMatchObject({ created: 0, updated: 0, unchanged: again[kind].listed });
      }
    },
    TIMEOUT,
  );

  test(
    "changes Clerk made while deliveries were lost are repaired: a revoked invitation, a role that lost a permission",
    async () => {
      const { invitations, admin } = seed();
      await sync();
      const invitation = invitations[1] as ClerkJson;
      h.api.invitations.set(invitation.id, { ...invitation, status: "revoked", updated_at: 1_800_000_000_000 });
      h.api.roles.set(admin.id, {
        ...admin,
        permissions: [clerkPermission({ key: "org:projects:read" })],
        updated_at: 1_800_000_000_000,
      });
      const result = await sync();
      expect(result).toMatchObject({ invitations: { updated: 1 }, roles: { updated: 1 } });
      expect(await stored(`SELECT status FROM organization_invitations WHERE id = '${invitation.id}'`)).toEqual([
        { status: "revoked" },
      ]);
      expect(await stored(`SELECT permissions FROM roles WHERE id = '${admin.id}'`)).toEqual([
        { permissions: ["org:projects:read"] },
      ]);
    },
    TIMEOUT,
  );

  test(
    "--prune removes the roles, permissions and invitations Clerk no longer has; an organization's invitations go with it",
    async () => {
      const { other, invitations, member, permissions } = seed();
      await sync();
      h.api.roles.delete(member.id);
      h.api.permissions.delete((permissions[2] as ClerkJson).id);
      h.api.invitations.delete((invitations[0] as ClerkJson).id);
      h.api.organizations.delete(other.id);
      h.api.invitations.delete((invitations[2] as ClerkJson).id);
      const dry = await sync(["--dry-run", "--prune"]);
      expect(dry).toMatchObject({
        roles: { prune: { ids: [member.id] } },
        invitations: { prune: { ids: [(invitations[0] as ClerkJson).id] } },
      });
      const result = await sync(["--prune"]);
      expect(result).toMatchObject({
        roles: { pruned: 1 },
        permissions: { pruned: 1 },
        invitations: { pruned: 1, prune: { candidates: 1, ids: [(invitations[0] as ClerkJson).id] } },
      });
      expect(await stored("SELECT id FROM organization_invitations")).toEqual([
        { id: (invitations[1] as ClerkJson).id },
      ]);
      expect(await stored(`SELECT id FROM roles WHERE id = '${member.id}'`)).toEqual([]);
      expect(
        await stored("SELECT count(*)::int AS n FROM roles WHERE 'org:sys_memberships:read' = ANY(permissions)"),
      ).toEqual([{ n: 0 }]);
      // Tombstoned: the pruned invitation does not come back with a late delivery.
      const [outcome] = await h.deliver([
        "organizationInvitation.accepted",
        { ...(invitations[0] as ClerkJson), status: "accepted", user_id: newUserId(), updated_at: 1_900_000_000_000 },
      ]);
      expect(outcome).toBe("stale");
    },
    TIMEOUT,
  );
});
