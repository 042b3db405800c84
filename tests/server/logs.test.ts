import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkEvent, clerkUser, fixture, newUserId, signDelivery, TEST_SECRET } from "../helpers/clerk.js";
import { clerkInvitation } from "../helpers/clerk-teams.js";
import { drivers } from "../helpers/database.js";
import { createHarness, type Harness } from "../helpers/harness.js";

describe.each(drivers())("log hygiene on $name", ({ open }) => {
  let h: Harness;
  beforeAll(async () => {
    h = createHarness(await open());
  });
  afterAll(() => h.close());

  test("a full run logs no e-mail address, name, signature or secret", async () => {
    const id = newUserId();
    const other = newUserId();
    const email = `Zelda.Secret-Mail.${id}@private.example`;
    const names = { firstName: "Zelda", lastName: "Quixotic" };
    const signatures: string[] = [];
    const send = async (payload: unknown, options?: Parameters<typeof signDelivery>[1]) => {
      const delivery = signDelivery(payload, options);
      signatures.push(delivery.headers["svix-signature"] ?? "");
      return h.post(delivery);
    };

    await send(clerkEvent("user.created", clerkUser({ id, email, ...names, username: "zelda.q" })));
    await send(clerkEvent("user.updated", clerkUser({ id, email, ...names, updatedAt: 1_900_000_000_000 })));
    await send(clerkEvent("user.created", clerkUser({ id: other, email, ...names }))); // 409 e-mail conflict
    await send(clerkEvent("user.created", clerkUser({ id: newUserId(), email: null, ...names }))); // skipped
    await send(clerkEvent("user.created", { ...clerkUser({ ...names, email }), updated_at: email })); // 422
    await send(`{"not json": ${email}`); // 400
    await send(clerkEvent("user.created", clerkUser({ email, ...names })), { secret: "whsec_d3Jvbmcgc2VjcmV0" }); // 401
    await h.post({ body: JSON.stringify(fixture("docs.user.created")), headers: { "svix-id": email } }); // 400
    await send(clerkEvent("user.deleted", { id, object: "user", deleted: true }));

    const text = h.logs.map((line) => JSON.stringify(line)).join("\n");
    expect(h.logs.length).toBeGreaterThanOrEqual(9);
    expect(text).not.toMatch(/@/);
    for (const secret of [
      email,
      email.toLowerCase(),
      names.firstName,
      names.lastName,
      "zelda",
      TEST_SECRET,
      TEST_SECRET.slice(6),
    ]) {
      expect(text).not.toContain(secret);
    }
    for (const signature of signatures) expect(text).not.toContain(signature.slice(3));
  });

  test("an invitation's delivery logs its ids, never the invited address", async () => {
    const email = `Invited.Person.${newUserId()}@private.example`;
    const invitation = clerkInvitation({ organizationId: "org_logs", emailAddress: email });
    const tooLong = clerkInvitation({ organizationId: "org_logs", emailAddress: `${"x".repeat(300)}${email}` });
    for (const data of [invitation, tooLong])
      await h.post(signDelivery(clerkEvent("organizationInvitation.created", data)));
    const lines = h.logs.slice(-2);
    expect(lines.map((line) => [line.outcome, line.objectId ?? null, line.organizationId ?? null])).toEqual([
      ["provisioned", invitation.id, "org_logs"],
      ["invalid", null, null],
    ]);
    const text = JSON.stringify(lines);
    expect(text).not.toMatch(/@/);
    expect(text).not.toContain(email.toLowerCase());
  });
});
