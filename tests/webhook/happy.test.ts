import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkEvent, clerkUser, fixture, newSvixId, newUserId } from "../helpers/clerk.js";
import { drivers } from "../helpers/database.js";
import { createHarness, describeResponse, type Harness, outcomeOf } from "../helpers/harness.js";

interface UserRow {
  id: string;
  email: string;
  username: string;
  first_name: string | null;
  last_name: string | null;
  avatar_url: string | null;
  subscription_tier: string;
}

describe.each(drivers({ pooler: true }))("webhook on $name", ({ open }) => {
  let h: Harness;
  beforeAll(async () => {
    h = createHarness(await open());
  });
  afterAll(() => h.close());

  const userRow = async (id: string) => (await h.database.query<UserRow>("SELECT * FROM users WHERE id = $1", [id]))[0];
  const workspacesOf = async (id: string) =>
    h.database.query<{ id: string; name: string }>("SELECT id, name FROM workspaces WHERE user_id = $1", [id]);

  test.each([
    ["docs.user.created", "user_29w83sxmDNGwOuEthce5gg56FcC", "example@example.org"],
    ["dashboard.user.created", "user_29w83sxmDNGwOuEthce5gg56FcC", "example@example.org"],
  ])("Clerk's published %s provisions one user and one workspace", async (name, id, email) => {
    await h.database.query("DELETE FROM users WHERE id = $1", [id]);
    await h.database.query("DELETE FROM clerk_user_versions WHERE user_id = $1", [id]);
    expect(await outcomeOf(await h.deliver(fixture(name)))).toBe("provisioned");
    const row = await userRow(id);
    expect(row).toMatchObject({
      email,
      username: "example",
      first_name: "Example",
      avatar_url: "https://img.clerk.com/xxxxxx",
    });
    expect(row?.subscription_tier).toBe("free");
    expect(await workspacesOf(id)).toEqual([{ id: expect.any(String), name: "My Workspace" }]);
  });

  test("Clerk's published user.updated and user.deleted apply after the created event", async () => {
    const id = "user_29w83sxmDNGwOuEthce5gg56FcC";
    expect(await outcomeOf(await h.deliver(fixture("dashboard.user.updated")))).toBe("provisioned");
    expect((await userRow(id))?.last_name).toBeNull();
    const deleted = fixture("dashboard.user.deleted");
    (deleted.data as { id: string }).id = id;
    expect(await outcomeOf(await h.deliver(deleted))).toBe("deleted");
    expect(await userRow(id)).toBeUndefined();
    expect(await workspacesOf(id)).toEqual([]);
  });

  test("the OpenAPI user.created (primary e-mail id pointing at nothing) is recorded as skipped", async () => {
    const before = await h.counts();
    const payload = fixture("openapi.user.created");
    const svixId = newSvixId();
    const res = await h.deliver(payload, { svixId });
    expect(await outcomeOf(res)).toBe("skipped");
    const after = await h.counts();
    expect(after).toEqual({ ...before, deliveries: before.deliveries + 1 });
    const recorded = await h.database.query<{ delivery_id: string; outcome: string; reason: string }>(
      "SELECT delivery_id, outcome, reason FROM clerk_deliveries WHERE clerk_user_id = $1",
      ["user_2g7np7Hrk0SN6kj5EDMLDaKNL0S"],
    );
    expect(recorded).toEqual([{ delivery_id: svixId, outcome: "skipped", reason: "no_usable_email" }]);
  });

  test("a user first seen without an e-mail is provisioned by a later update that has one", async () => {
    const id = newUserId();
    expect(
      await outcomeOf(await h.deliver(clerkEvent("user.created", clerkUser({ id, email: null, updatedAt: 1 })))),
    ).toBe("skipped");
    expect(await userRow(id)).toBeUndefined();
    expect(await outcomeOf(await h.deliver(clerkEvent("user.updated", clerkUser({ id, updatedAt: 2 }))))).toBe(
      "provisioned",
    );
    expect(await workspacesOf(id)).toHaveLength(1);
  });

  test("maps the primary e-mail (lower-cased) among several, names and avatar", async () => {
    const id = newUserId();
    const user = clerkUser({
      id,
      email: `Primary.${id}@Example.COM`,
      otherEmails: [`other.${id}@example.com`],
      firstName: "Grace",
      lastName: null,
      imageUrl: "https://img.clerk.com/grace",
    });
    await outcomeOf(await h.deliver(clerkEvent("user.created", user)));
    expect(await userRow(id)).toMatchObject({
      email: `primary.${id.toLowerCase()}@example.com`,
      first_name: "Grace",
      last_name: null,
      avatar_url: "https://img.clerk.com/grace",
    });
  });

  test("an OAuth-only user (no password, external account) is provisioned", async () => {
    const id = newUserId();
    const user = {
      ...clerkUser({ id }),
      password_enabled: false,
      external_accounts: [
        { object: "google_account", id: "gac_1", provider: "oauth_google", email_address: "x@gmail.com" },
      ],
    };
    expect(await outcomeOf(await h.deliver(clerkEvent("user.created", user)))).toBe("provisioned");
  });

  test("the same svix id delivered again, also concurrently, changes nothing", async () => {
    const id = newUserId();
    const payload = clerkEvent("user.created", clerkUser({ id }));
    const svixId = newSvixId();
    const outcomes = await Promise.all(
      Array.from({ length: 30 }, async () => outcomeOf(await h.deliver(payload, { svixId }))),
    );
    expect(outcomes.filter((o) => o === "provisioned")).toHaveLength(1);
    expect(outcomes.filter((o) => o === "duplicate")).toHaveLength(29);
    const [row] = await h.database.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM clerk_deliveries WHERE delivery_id = $1",
      [svixId],
    );
    expect(row?.n).toBe(1);
    expect(await workspacesOf(id)).toHaveLength(1);
  });

  test("30 different deliveries for one user at once leave one user and one workspace", async () => {
    const id = newUserId();
    const email = `${id.toLowerCase()}@example.com`;
    const results = await Promise.all(
      Array.from({ length: 30 }, async (_, i) =>
        outcomeOf(
          await h.deliver(
            clerkEvent(i % 2 ? "user.updated" : "user.created", clerkUser({ id, email, updatedAt: 1000 + i })),
          ),
        ),
      ),
    );
    expect(results.every((o) => o === "provisioned" || o === "stale")).toBe(true);
    expect(await workspacesOf(id)).toHaveLength(1);
    const [version] = await h.database.query<{ v: string }>(
      "SELECT clerk_updated_at::text AS v FROM clerk_user_versions WHERE user_id = $1",
      [id],
    );
    expect(version?.v).toBe("1029");
  });

  test("an update older than what is stored changes nothing; equal is not newer", async () => {
    const id = newUserId();
    await outcomeOf(await h.deliver(clerkEvent("user.created", clerkUser({ id, firstName: "New", updatedAt: 2000 }))));
    expect(
      await outcomeOf(
        await h.deliver(clerkEvent("user.updated", clerkUser({ id, firstName: "Old", updatedAt: 1999 }))),
      ),
    ).toBe("stale");
    expect(
      await outcomeOf(
        await h.deliver(clerkEvent("user.updated", clerkUser({ id, firstName: "Same", updatedAt: 2000 }))),
      ),
    ).toBe("stale");
    expect((await userRow(id))?.first_name).toBe("New");
    expect(
      await outcomeOf(
        await h.deliver(clerkEvent("user.updated", clerkUser({ id, firstName: "Newer", updatedAt: 2001 }))),
      ),
    ).toBe("provisioned");
    expect((await userRow(id))?.first_name).toBe("Newer");
  });

  test("updated before created (out of order): the created event arriving late is stale", async () => {
    const id = newUserId();
    await outcomeOf(await h.deliver(clerkEvent("user.updated", clerkUser({ id, firstName: "Later", updatedAt: 20 }))));
    expect(
      await outcomeOf(
        await h.deliver(clerkEvent("user.created", clerkUser({ id, firstName: "Earlier", updatedAt: 10 }))),
      ),
    ).toBe("stale");
    expect((await userRow(id))?.first_name).toBe("Later");
    expect(await workspacesOf(id)).toHaveLength(1);
  });

  test("a late user.created or user.updated does not bring a deleted user back", async () => {
    const id = newUserId();
    await outcomeOf(await h.deliver(clerkEvent("user.created", clerkUser({ id, updatedAt: 10 }))));
    expect(await outcomeOf(await h.deliver(clerkEvent("user.deleted", { id, object: "user", deleted: true })))).toBe(
      "deleted",
    );
    expect(await outcomeOf(await h.deliver(clerkEvent("user.created", clerkUser({ id, updatedAt: 10 }))))).toBe(
      "stale",
    );
    expect(await outcomeOf(await h.deliver(clerkEvent("user.updated", clerkUser({ id, updatedAt: 99 }))))).toBe(
      "stale",
    );
    expect(await userRow(id)).toBeUndefined();
    expect(await workspacesOf(id)).toEqual([]);
  });

  test("user.deleted before the user was ever seen leaves a tombstone", async () => {
    const id = newUserId();
    expect(await outcomeOf(await h.deliver(clerkEvent("user.deleted", { id, object: "user", deleted: true })))).toBe(
      "deleted",
    );
    expect(await outcomeOf(await h.deliver(clerkEvent("user.created", clerkUser({ id }))))).toBe("stale");
    expect(await userRow(id)).toBeUndefined();
  });

  test("created and deleted racing for one user never leave a user behind", async () => {
    for (let round = 0; round < 10; round++) {
      const id = newUserId();
      await Promise.all([
        h.deliver(clerkEvent("user.created", clerkUser({ id }))),
        h.deliver(clerkEvent("user.deleted", { id, object: "user", deleted: true })),
        h.deliver(clerkEvent("user.updated", clerkUser({ id, updatedAt: 1_800_000_000_000 }))),
      ]);
      expect(await userRow(id)).toBeUndefined();
      expect(await workspacesOf(id)).toEqual([]);
    }
  });

  test("updates racing the delete of a stored user all answer 2xx and leave nothing behind (found by bench mixed)", async () => {
    for (let round = 0; round < 15; round++) {
      const id = newUserId();
      expect(await outcomeOf(await h.deliver(clerkEvent("user.created", clerkUser({ id, updatedAt: 1 }))))).toBe(
        "provisioned",
      );
      const answers = await Promise.all([
        h.deliver(clerkEvent("user.updated", clerkUser({ id, updatedAt: 2 }))),
        h.deliver(clerkEvent("user.deleted", { id, object: "user", deleted: true })),
        h.deliver(clerkEvent("user.updated", clerkUser({ id, updatedAt: 3 }))),
        h.deliver(clerkEvent("user.updated", clerkUser({ id, updatedAt: 1 }))),
      ]);
      for (const answer of answers) expect(answer.status, await describeResponse(answer)).toBe(200);
      expect(await userRow(id)).toBeUndefined();
      expect(await workspacesOf(id)).toEqual([]);
    }
  });

  test("other event types answer 2xx, are recorded, and change nothing else", async () => {
    const before = await h.counts();
    expect(await outcomeOf(await h.deliver(fixture("session.created")))).toBe("ignored");
    expect(await h.counts()).toEqual({ ...before, deliveries: before.deliveries + 1 });
  });

  test("an e-mail still held by another Clerk id answers 409 until that user is deleted", async () => {
    const oldId = newUserId();
    const newId = newUserId();
    const email = `resignup.${oldId.toLowerCase()}@example.com`;
    await outcomeOf(await h.deliver(clerkEvent("user.created", clerkUser({ id: oldId, email }))));
    const retry = clerkEvent("user.created", clerkUser({ id: newId, email }));
    const svixId = newSvixId();
    const before = await h.counts();
    const conflict = await h.deliver(retry, { svixId });
    expect(conflict.status, await describeResponse(conflict)).toBe(409);
    expect(await conflict.json()).toMatchObject({ error: { code: "email_conflict" } });
    expect(await h.counts()).toEqual(before);
    await outcomeOf(await h.deliver(clerkEvent("user.deleted", { id: oldId, object: "user", deleted: true })));
    expect(await outcomeOf(await h.deliver(retry, { svixId }))).toBe("provisioned");
    expect((await userRow(newId))?.email).toBe(email);
  });

  describe("usernames", () => {
    test("derived from the e-mail when Clerk has none; a numeric suffix on collision", async () => {
      const local = `ada_${newUserId().slice(-8)}`;
      const first = newUserId();
      const second = newUserId();
      await outcomeOf(
        await h.deliver(clerkEvent("user.created", clerkUser({ id: first, email: `${local}@one.example` }))),
      );
      await outcomeOf(
        await h.deliver(clerkEvent("user.created", clerkUser({ id: second, email: `${local}@two.example` }))),
      );
      expect((await userRow(first))?.username).toBe(local);
      expect((await userRow(second))?.username).toBe(`${local}2`);
    });

    test("Clerk's username made to fit the check", async () => {
      const id = newUserId();
      const tail = id.slice(-6);
      await outcomeOf(await h.deliver(clerkEvent("user.created", clerkUser({ id, username: `Jane.Doe-${tail}` }))));
      expect((await userRow(id))?.username).toBe(`jane_doe_${tail}`);
    });

    test("does not change when the same user is delivered again, even after a suffix", async () => {
      const tail = newUserId().slice(-8);
      const holder = newUserId();
      const id = newUserId();
      await outcomeOf(await h.deliver(clerkEvent("user.created", clerkUser({ id: holder, username: `sam_${tail}` }))));
      await outcomeOf(
        await h.deliver(clerkEvent("user.created", clerkUser({ id, username: `sam_${tail}`, updatedAt: 1 }))),
      );
      expect((await userRow(id))?.username).toBe(`sam_${tail}2`);
      await outcomeOf(
        await h.deliver(clerkEvent("user.updated", clerkUser({ id, username: `sam_${tail}`, updatedAt: 2 }))),
      );
      expect((await userRow(id))?.username).toBe(`sam_${tail}2`);
      await outcomeOf(
        await h.deliver(clerkEvent("user.updated", clerkUser({ id, username: `samuel_${tail}`, updatedAt: 3 }))),
      );
      expect((await userRow(id))?.username).toBe(`samuel_${tail}`);
    });

    test("many users with the same base username at once each get a distinct one", async () => {
      const local = `twin_${newUserId().slice(-8)}`;
      const ids = Array.from({ length: 12 }, () => newUserId());
      const statuses = await Promise.all(
        ids.map(
          async (id, i) =>
            (await h.deliver(clerkEvent("user.created", clerkUser({ id, email: `${local}@d${i}.example` })))).status,
        ),
      );
      expect(statuses.every((s) => s === 200)).toBe(true);
      const rows = await h.database.query<{ username: string }>("SELECT username FROM users WHERE id = ANY($1)", [ids]);
      expect(new Set(rows.map((r) => r.username)).size).toBe(12);
    });
  });

  test("a crowded base: past base100 a 9-digit suffix, distinct, stable on redelivery; choosing one never fails", async () => {
    const local = `crowd_${newUserId().slice(-6).toLowerCase()}`;
    const ids = Array.from({ length: 110 }, () => newUserId());
    for (const [i, id] of ids.entries()) {
      const user = clerkUser({ id, email: `${local}@d${i}.example` });
      expect(await outcomeOf(await h.deliver(clerkEvent("user.created", user)))).toBe("provisioned");
    }
    const rows = await h.database.query<{ id: string; username: string }>(
      "SELECT id, username FROM users WHERE id = ANY($1)",
      [ids],
    );
    const names = rows.map((r) => r.username);
    expect(new Set(names).size).toBe(110);
    const sequential = new Set([local, ...Array.from({ length: 99 }, (_, i) => `${local}${i + 2}`)]);
    expect(names.filter((n) => sequential.has(n))).toHaveLength(100);
    for (const n of names.filter((n) => !sequential.has(n))) expect(n).toMatch(new RegExp(`^${local}[1-9][0-9]{8}$`));
    // The same user delivered again (a newer state) keeps the name it got.
    const last = ids[109] as string;
    const before = rows.find((r) => r.id === last)?.username;
    const again = clerkUser({ id: last, email: `${local}@d109.example`, updatedAt: 1_800_000_000_000 });
    expect(await outcomeOf(await h.deliver(clerkEvent("user.updated", again)))).toBe("provisioned");
    expect((await userRow(last))?.username).toBe(before);
  });

  test("an address with nothing Latin before the @ gets a base from its Clerk id, which no other user shares", async () => {
    const ids = [newUserId(), newUserId()];
    const emails = ["用户", "пользователь"].map((local) => `${local}@${newUserId().slice(-8)}.example.com`);
    for (const [i, id] of ids.entries()) {
      await outcomeOf(await h.deliver(clerkEvent("user.created", clerkUser({ id, email: emails[i] ?? null }))));
      expect((await userRow(id))?.username).toBe(id.toLowerCase().slice(0, 30));
    }
  });

  test("a workspace removed by hand is restored by the next delivery for its user, even a stale one", async () => {
    const id = newUserId();
    const user = clerkUser({ id });
    await outcomeOf(await h.deliver(clerkEvent("user.created", user)));
    await h.database.query("DELETE FROM workspaces WHERE user_id = $1", [id]);
    expect(await workspacesOf(id)).toEqual([]);
    expect(await outcomeOf(await h.deliver(clerkEvent("user.created", user)))).toBe("stale");
    expect(await workspacesOf(id)).toHaveLength(1);
  });

  test("logs one line per delivery with svix id, type, user id, outcome and duration", async () => {
    const id = newUserId();
    const svixId = newSvixId();
    await outcomeOf(await h.deliver(clerkEvent("user.created", clerkUser({ id })), { svixId }));
    const line = h.logs.find((l) => l.svixId === svixId);
    expect(line).toMatchObject({ type: "user.created", userId: id, outcome: "provisioned", ms: expect.any(Number) });
  });
});
