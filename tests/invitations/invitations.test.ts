import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkEvent, newUserId } from "../helpers/clerk.js";
import {
  clerkMembership,
  clerkOrganization,
  newOrganizationId,
  organizationFixture,
} from "../helpers/clerk-organizations.js";
import { clerkInvitation, newInvitationId } from "../helpers/clerk-teams.js";
import { drivers } from "../helpers/database.js";
import { createHarness, type Harness, outcomeOf, permutations } from "../helpers/harness.js";

interface InvitationRow {
  id: string;
  organization_id: string;
  email_address: string;
  role: string;
  status: string;
  user_id: string | null;
}

describe.each(drivers())("organization invitations on $name", ({ open }) => {
  let h: Harness;
  beforeAll(async () => {
    h = createHarness(await open());
  });
  afterAll(() => h.close());

  const send: Harness["send"] = (type, data, svixId) => h.send(type, data, svixId);
  const invitation = async (id: string) =>
    (
      await h.database.query<InvitationRow>(
        "SELECT id, organization_id, email_address, role, status, user_id FROM organization_invitations WHERE id = $1",
        [id],
      )
    )[0];
  const invitationsOf = (organizationId: string) =>
    h.database.query<InvitationRow>(
      "SELECT id, organization_id, email_address, role, status, user_id FROM organization_invitations WHERE organization_id = $1",
      [organizationId],
    );
  const seats = async (organizationId: string) =>
    (
      await h.database.query<{ members: number; pending_invitations: number }>(
        "SELECT members, pending_invitations FROM organization_seats WHERE organization_id = $1",
        [organizationId],
      )
    )[0];
  const organizationCreated = (id: string) => send("organization.created", clerkOrganization({ id }));

  test("Clerk's published payloads: created, accepted (with who accepted it), the address lower-cased", async () => {
    const id = "orginv_2g7np7Hrk0SN6kj5EDMLDaKNL0S";
    const deliver = async (name: string) => outcomeOf(await h.deliver(organizationFixture(`openapi.${name}`)));
    expect(await deliver("organizationInvitation.created")).toBe("provisioned");
    expect(await invitation(id)).toEqual({
      id,
      organization_id: "org_2g7np7Hrk0SN6kj5EDMLDaKNL0S",
      email_address: "jane.doe@acme.com",
      role: "org:member",
      status: "pending",
      user_id: null,
    });
    const [times] = await h.database.query<{ expires_at: string; updated_at: string }>(
      "SELECT to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS expires_at, (extract(epoch from updated_at) * 1000)::bigint::text AS updated_at FROM organization_invitations WHERE id = $1",
      [id],
    );
    expect(times).toEqual({ expires_at: "2024-06-04 07:59:59.000", updated_at: "1716883200000" });
    expect(await deliver("organizationInvitation.accepted")).toBe("provisioned");
    expect(await invitation(id)).toMatchObject({ status: "accepted", user_id: "user_2h8op3Isl1QR7tKu5FGNfaLKEoU" });
    // The revoked example carries the accepted one's updated_at: as old as what is stored, so nothing changes.
    expect(await deliver("organizationInvitation.revoked")).toBe("stale");
    expect(await invitation(id)).toMatchObject({ status: "accepted" });
  });

  test("an e-mail address is lower-cased; one longer than an address can be is refused and nothing is written", async () => {
    const organizationId = newOrganizationId();
    const id = newInvitationId();
    await send(
      "organizationInvitation.created",
      clerkInvitation({ id, organizationId, emailAddress: " Jane.DOE@Acme.COM" }),
    );
    expect((await invitation(id))?.email_address).toBe("jane.doe@acme.com");
    const long = `${"a".repeat(250)}@example.com`;
    const tooLong = newInvitationId();
    const res = await h.deliver(
      clerkEvent(
        "organizationInvitation.created",
        clerkInvitation({ id: tooLong, organizationId, emailAddress: long }),
      ),
    );
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/data\.email_address/);
    expect(await invitation(tooLong)).toBeUndefined();
  });

  const lifeCycle = (organizationId: string, id: string, userId: string) =>
    ({
      created: ["organizationInvitation.created", clerkInvitation({ id, organizationId, updatedAt: 1_000 })],
      accepted: [
        "organizationInvitation.accepted",
        clerkInvitation({ id, organizationId, status: "accepted", userId, updatedAt: 2_000 }),
      ],
      revoked: [
        "organizationInvitation.revoked",
        clerkInvitation({ id, organizationId, status: "revoked", updatedAt: 2_000 }),
      ],
    }) as const;

  for (const end of ["accepted", "revoked"] as const) {
    for (const order of permutations(["created", end] as const)) {
      test(`created and ${end} in the order ${order.join(" ")}: ${end}, never pending again`, async () => {
        const organizationId = newOrganizationId();
        const id = newInvitationId();
        const events = lifeCycle(organizationId, id, newUserId());
        const seen: string[] = [];
        for (const name of order) {
          const [type, data] = events[name];
          await send(type, data);
          seen.push((await invitation(id))?.status ?? "none");
        }
        expect(seen.at(-1)).toBe(end);
        expect(seen.slice(seen.indexOf(end))).toEqual(seen.slice(seen.indexOf(end)).map(() => end));
      });
    }
  }

  for (const order of permutations(["created", "accepted", "revoked"] as const)) {
    test(`created, accepted and revoked (as old as the acceptance) in the order ${order.join(" ")}: whichever ending came first stays`, async () => {
      const organizationId = newOrganizationId();
      const id = newInvitationId();
      const events = lifeCycle(organizationId, id, newUserId());
      for (const name of order) {
        const [type, data] = events[name];
        await send(type, data);
      }
      const first = order.find((name) => name !== "created");
      expect((await invitation(id))?.status).toBe(first);
    });
  }

  test("a newer pending state after the acceptance (a stale listing, a replay) does not turn it pending", async () => {
    const organizationId = newOrganizationId();
    const id = newInvitationId();
    await send(
      "organizationInvitation.accepted",
      clerkInvitation({ id, organizationId, status: "accepted", updatedAt: 2_000 }),
    );
    await send("organizationInvitation.created", clerkInvitation({ id, organizationId, updatedAt: 3_000 }));
    expect((await invitation(id))?.status).toBe("accepted");
  });

  test("an update older than what is stored changes nothing; a newer role is applied", async () => {
    const organizationId = newOrganizationId();
    const id = newInvitationId();
    await send(
      "organizationInvitation.created",
      clerkInvitation({ id, organizationId, role: "org:admin", updatedAt: 2_000 }),
    );
    expect(
      await send("organizationInvitation.created", clerkInvitation({ id, organizationId, updatedAt: 1_000 })),
    ).toBe("stale");
    expect((await invitation(id))?.role).toBe("org:admin");
  });

  test("before its organization: stored; counted in the organization's seats once it arrives", async () => {
    const organizationId = newOrganizationId();
    const id = newInvitationId();
    expect(await send("organizationInvitation.created", clerkInvitation({ id, organizationId }))).toBe("provisioned");
    expect(await invitation(id)).toBeDefined();
    expect(await seats(organizationId)).toBeUndefined();
    await organizationCreated(organizationId);
    expect(await seats(organizationId)).toEqual({ members: 0, pending_invitations: 1 });
  });

  for (const order of [
    ["invitation", "membership"],
    ["membership", "invitation"],
  ] as const) {
    test(`an accepted invitation and the membership it creates, ${order.join(" first, then the ")}: one member, no pending seat`, async () => {
      const organizationId = newOrganizationId();
      const userId = newUserId();
      const id = newInvitationId();
      await organizationCreated(organizationId);
      await send("organizationInvitation.created", clerkInvitation({ id, organizationId, updatedAt: 1_000 }));
      expect(await seats(organizationId)).toEqual({ members: 0, pending_invitations: 1 });
      const steps = {
        invitation: () =>
          send(
            "organizationInvitation.accepted",
            clerkInvitation({ id, organizationId, status: "accepted", userId, updatedAt: 2_000 }),
          ),
        membership: () => send("organizationMembership.created", clerkMembership({ organizationId, userId })),
      };
      for (const step of order) await steps[step]();
      expect(await seats(organizationId)).toEqual({ members: 1, pending_invitations: 0 });
      expect((await invitation(id))?.user_id).toBe(userId);
    });
  }

  test("organization.deleted removes its invitations; no later invitation event brings one back", async () => {
    const organizationId = newOrganizationId();
    const id = newInvitationId();
    await organizationCreated(organizationId);
    await send("organizationInvitation.created", clerkInvitation({ id, organizationId, updatedAt: 1_000 }));
    await send("organizationInvitation.created", clerkInvitation({ organizationId }));
    expect(await invitationsOf(organizationId)).toHaveLength(2);
    expect(await send("organization.deleted", { id: organizationId, object: "organization", deleted: true })).toBe(
      "deleted",
    );
    expect(await invitationsOf(organizationId)).toEqual([]);
    expect(
      await send(
        "organizationInvitation.accepted",
        clerkInvitation({ id, organizationId, status: "accepted", updatedAt: 2_000 }),
      ),
    ).toBe("stale");
    expect(await send("organizationInvitation.created", clerkInvitation({ organizationId }))).toBe("stale");
    expect(await invitationsOf(organizationId)).toEqual([]);
  });

  test("an invitation of an organization deleted before either arrived is not stored", async () => {
    const organizationId = newOrganizationId();
    await send("organization.deleted", { id: organizationId, object: "organization", deleted: true });
    expect(await send("organizationInvitation.created", clerkInvitation({ organizationId }))).toBe("stale");
    expect(await invitationsOf(organizationId)).toEqual([]);
  });

  test("organization deleted while its invitations are written at once: nothing left, nothing comes back", async () => {
    const organizationId = newOrganizationId();
    await organizationCreated(organizationId);
    const writes = Array.from({ length: 20 }, () =>
      send("organizationInvitation.created", clerkInvitation({ organizationId })),
    );
    const deletion = send("organization.deleted", { id: organizationId, object: "organization", deleted: true });
    await Promise.all([...writes, deletion]);
    expect(await invitationsOf(organizationId)).toEqual([]);
  });
});
