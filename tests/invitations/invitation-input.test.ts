import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkEvent, newSvixId } from "../helpers/clerk.js";
import { newOrganizationId } from "../helpers/clerk-organizations.js";
import { clerkInvitation } from "../helpers/clerk-teams.js";
import { drivers } from "../helpers/database.js";
import { createHarness, type Harness } from "../helpers/harness.js";

/** Invitation deliveries again, concurrently, and with bad input. */
describe.each(drivers())("organization invitations' duplicates and bad input on $name", ({ open }) => {
  let h: Harness;
  beforeAll(async () => {
    h = createHarness(await open());
  });
  afterAll(() => h.close());

  const send: Harness["send"] = (type, data, svixId) => h.send(type, data, svixId);
  const invitationsOf = (organizationId: string) =>
    h.database.query("SELECT id FROM organization_invitations WHERE organization_id = $1", [organizationId]);

  test("the same svix-id again, and 30 copies at once: applied once", async () => {
    const organizationId = newOrganizationId();
    const data = clerkInvitation({ organizationId });
    const svixId = newSvixId();
    expect(await send("organizationInvitation.created", data, svixId)).toBe("provisioned");
    expect(await send("organizationInvitation.created", data, svixId)).toBe("duplicate");
    const copies = newSvixId();
    const copy = clerkInvitation({ organizationId });
    const outcomes = await Promise.all(
      Array.from({ length: 30 }, () => send("organizationInvitation.created", copy, copies)),
    );
    expect(outcomes.filter((o) => o === "provisioned")).toHaveLength(1);
    expect(outcomes.filter((o) => o === "duplicate")).toHaveLength(29);
    expect(await invitationsOf(organizationId)).toHaveLength(2);
  });

  test.each([
    ["no organization", { organization_id: undefined }, /data\.organization_id/],
    ["a status that is not text", { status: 3 }, /data\.status/],
    ["an id of kilobytes", { id: `orginv_${"x".repeat(5000)}` }, /data\.id/],
  ])("%s: 422 naming the field, nothing written", async (_, change, message) => {
    const organizationId = newOrganizationId();
    const res = await h.deliver(
      clerkEvent("organizationInvitation.created", { ...clerkInvitation({ organizationId }), ...change }),
    );
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
    expect(await invitationsOf(organizationId)).toEqual([]);
  });
});
