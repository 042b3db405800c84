import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkEvent, clerkUser, newSvixId, newUserId } from "../helpers/clerk.js";
import { clerkMembership, newMembershipId, newOrganizationId } from "../helpers/clerk-organizations.js";
import { drivers } from "../helpers/database.js";
import { createHarness, describeResponse, type Harness } from "../helpers/harness.js";

/**
 * Concurrent deliveries share statements (src/provisioning/coalesce/): every delivery still gets the answer it would
 * get alone, and the database ends as sequential delivery would leave it, each delivery recorded once.
 */

const T0 = 1_700_000_000_000;

interface Planned {
  name: string;
  payload: Record<string, unknown>;
  svixId: string;
  /** The answers it may get: an outcome, or `<status> <code>` for a refusal. */
  expected: readonly string[];
}

/** The answer as one string: the outcome of a 200, or the status and the error's code. */
async function answerOf(res: Response): Promise<string> {
  const body = (await res.json()) as { outcome?: string; error?: { code: string } };
  return res.status === 200 ? String(body.outcome) : `${res.status} ${body.error?.code}`;
}

describe.each(drivers({ pooler: true }))("coalesced deliveries on $name", ({ open }) => {
  let h: Harness;
  beforeAll(async () => {
    h = createHarness(await open());
    // A value the database refuses (as a CHECK would): the row of a user named "Refused".
    await h.database.query(`CREATE FUNCTION refuse_row() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation', CONSTRAINT = 'refused_by_test'; END
      $fn$`);
    await h.database.query(`CREATE TRIGGER refuse_user BEFORE INSERT OR UPDATE ON users
      FOR EACH ROW WHEN (NEW.first_name = 'Refused') EXECUTE FUNCTION refuse_row()`);
  });
  afterAll(() => h.close());

  const provisioned = async (user: Record<string, unknown>, svixId = newSvixId()) => {
    const res = await h.deliver(clerkEvent("user.created", user), { svixId });
    expect(res.status, await describeResponse(res)).toBe(200);
    expect(await answerOf(res)).toBe("provisioned");
  };
  const batchSizes = async (kind = "users") => {
    const text = await (await h.app.request("/metrics")).text();
    const figure = (name: string) =>
      Number(
        text.match(new RegExp(`^clerk_write_batch_size_${name}\\{kind="${kind}",verb="write"\\} (\\d+)`, "m"))?.[1],
      ) || 0;
    return { batches: figure("count"), deliveries: figure("sum") };
  };

  test("200 concurrent deliveries: each answered as alone, the state of sequential delivery, duplicates recorded once", async () => {
    const holder = clerkUser();
    const existing = Array.from({ length: 30 }, () => clerkUser());
    const doomed = clerkUser();
    const recordedBefore = { user: clerkUser(), svixId: newSvixId() };
    for (const user of [holder, ...existing, doomed]) await provisioned(user);
    await provisioned(recordedBefore.user, recordedBefore.svixId);
    const before = await batchSizes();

    const delivery = (type: string, user: Record<string, unknown>, name: string, expected: string[]): Planned => ({
      name,
      payload: clerkEvent(type, user),
      svixId: newSvixId(),
      expected,
    });
    const created = (user: Record<string, unknown>, name: string, expected = ["provisioned"]) =>
      delivery("user.created", user, name, expected);
    const copied = created(clerkUser(), "one svix-id five times");
    const versioned = newUserId();
    const older = clerkUser({ id: versioned, firstName: "Older", updatedAt: T0 + 1 });
    const newer = clerkUser({ id: versioned, firstName: "Newer", updatedAt: T0 + 2 });
    const updates = existing.map((user) =>
      delivery("user.updated", { ...user, last_name: "Updated", updated_at: T0 + 10 }, "an update", ["provisioned"]),
    );
    const special: Planned[] = [
      ...Array.from({ length: 5 }, () => copied),
      {
        ...created(recordedBefore.user, "a delivery recorded before"),
        svixId: recordedBefore.svixId,
        expected: ["duplicate"],
      },
      // Together they go in rank order (both provisioned); in separate batches the newer may go first.
      created(older, "the older of two versions", ["provisioned", "stale"]),
      created(newer, "the newer of two versions"),
      {
        name: "a delete",
        payload: clerkEvent("user.deleted", { id: doomed.id, deleted: true, object: "user" }),
        svixId: newSvixId(),
        expected: ["deleted"],
      },
      created(
        clerkUser({ email: `${String(holder.id).toLowerCase()}@example.com` }),
        "an e-mail held by another user",
        ["409 email_conflict"],
      ),
      created(clerkUser({ firstName: "Refused" }), "a row the database refuses", ["422 constraint_violation"]),
    ];
    const fresh = Array.from({ length: 200 - special.length - updates.length }, () =>
      created(clerkUser(), "a new user"),
    );
    const planned = [...fresh, ...updates, ...special].sort(() => Math.random() - 0.5);
    expect(planned).toHaveLength(200);

    const answers = await Promise.all(
      planned.map(async (p) => answerOf(await h.deliver(p.payload, { svixId: p.svixId }))),
    );

    const unexpected = planned.flatMap((p, i) =>
      p === copied || p.expected.includes(answers[i] ?? "") ? [] : [`${p.name}: ${answers[i]}`],
    );
    expect(unexpected).toEqual([]);
    const copies = answers.filter((_, i) => planned[i] === copied).sort();
    expect(copies).toEqual(["duplicate", "duplicate", "duplicate", "duplicate", "provisioned"]);

    // The state sequential delivery leaves: every new user once with one workspace, the updates applied, the newer
    // version stored, the deleted user gone, nothing of the refused ones.
    const users = await h.database.query<{ id: string; first_name: string; last_name: string; workspaces: number }>(
      `SELECT u.id, u.first_name, u.last_name, (SELECT count(*)::int FROM workspaces w WHERE w.user_id = u.id) AS workspaces
       FROM users u`,
    );
    const byId = new Map(users.map((u) => [u.id, u]));
    for (const p of [...fresh, copied]) {
      expect(byId.get(String((p.payload.data as { id: string }).id))?.workspaces).toBe(1);
    }
    for (const user of existing) expect(byId.get(String(user.id))?.last_name).toBe("Updated");
    expect(byId.get(versioned)?.first_name).toBe("Newer");
    expect(byId.has(String(doomed.id))).toBe(false);
    expect(users.filter((u) => u.first_name === "Refused")).toEqual([]);
    expect(users.every((u) => u.workspaces === 1)).toBe(true);
    expect(users).toHaveLength(1 + 30 + 1 + fresh.length + 1 + 1);

    // Each delivery recorded once, with its own outcome; the refused ones not at all (Svix retries them).
    const records = await h.database.query<{ delivery_id: string; event_type: string; outcome: string; n: number }>(
      `SELECT delivery_id, event_type, outcome, count(*) OVER (PARTITION BY delivery_id)::int AS n
       FROM clerk_deliveries WHERE delivery_id = ANY($1::text[])`,
      [planned.map((p) => p.svixId)],
    );
    const recorded = new Map(records.map((r) => [r.delivery_id, r]));
    expect(records.every((r) => r.n === 1)).toBe(true);
    for (const [i, p] of planned.entries()) {
      const answer = answers[i] ?? "";
      const record = recorded.get(p.svixId);
      if (answer.includes(" ")) expect(record, p.name).toBeUndefined();
      else if (answer !== "duplicate") {
        expect(record, p.name).toMatchObject({ event_type: p.payload.type, outcome: answer });
      }
    }

    // They did share statements: fewer batches than deliveries.
    const after = await batchSizes();
    expect(after.deliveries - before.deliveries).toBeGreaterThan(180);
    expect(after.batches - before.batches).toBeLessThan(100);
  });

  test("a lone delivery goes at once, in a batch of one", async () => {
    const before = await batchSizes();
    await provisioned(clerkUser());
    expect(await batchSizes()).toEqual({ batches: before.batches + 1, deliveries: before.deliveries + 1 });
  });

  test("the same svix-id 30 times at once, with an e-mail conflict: every copy answers 409, nothing recorded", async () => {
    const holder = clerkUser();
    await provisioned(holder);
    const svixId = newSvixId();
    const payload = clerkEvent("user.created", clerkUser({ email: `${String(holder.id).toLowerCase()}@example.com` }));
    const answers = await Promise.all(
      Array.from({ length: 30 }, async () => answerOf(await h.deliver(payload, { svixId }))),
    );
    expect(new Set(answers)).toEqual(new Set(["409 email_conflict"]));
    expect(await h.database.query("SELECT 1 FROM clerk_deliveries WHERE delivery_id = $1", [svixId])).toEqual([]);
  });

  test("concurrent deletes share statements too: one answer each, a user deleted twice is deleted once", async () => {
    const users = Array.from({ length: 20 }, () => clerkUser());
    for (const user of users) await provisioned(user);
    const deletes = users.map((user) => ({
      payload: clerkEvent("user.deleted", { id: user.id, deleted: true, object: "user" }),
      svixId: newSvixId(),
    }));
    const twice = deletes[0] as (typeof deletes)[number];
    const again = { payload: twice.payload, svixId: newSvixId() };
    const answers = await Promise.all(
      [...deletes, again].map(async (d) => answerOf(await h.deliver(d.payload, { svixId: d.svixId }))),
    );
    // The same user deleted by two deliveries: one removes it, the other finds it removed (stale), as alone.
    expect(answers.slice(1, -1)).toEqual(Array(19).fill("deleted"));
    expect([answers[0], answers[20]].sort()).toEqual(["deleted", "stale"]);
    expect(await h.database.query("SELECT id FROM users WHERE id = ANY($1::text[])", [users.map((u) => u.id)])).toEqual(
      [],
    );
  });

  test("memberships coalesce too: each answered as alone, two versions of one in rank order, organizations from their snapshots", async () => {
    const before = await batchSizes("memberships");
    const organizations = [newOrganizationId(), newOrganizationId(), newOrganizationId()];
    const members = organizations.flatMap((organizationId) =>
      Array.from({ length: 20 }, () => clerkMembership({ organizationId, userId: newUserId() })),
    );
    const [organizationId] = organizations as [string];
    const twice = { id: newMembershipId(), organizationId, userId: newUserId() };
    const older = clerkMembership({ ...twice, role: "org:member", updatedAt: T0 + 1 });
    const newer = clerkMembership({ ...twice, role: "org:admin", updatedAt: T0 + 2 });
    const payloads = [
      ...members.map((m) => clerkEvent("organizationMembership.created", m)),
      clerkEvent("organizationMembership.created", older),
      clerkEvent("organizationMembership.updated", newer),
    ].sort(() => Math.random() - 0.5);
    const answers = await Promise.all(payloads.map(async (p) => answerOf(await h.deliver(p))));

    const olderAnswer = answers[payloads.findIndex((p) => p.data === older)];
    const others = answers.filter((_, i) => payloads[i]?.data !== older);
    expect(others).toEqual(Array(61).fill("provisioned"));
    expect(["provisioned", "stale"]).toContain(olderAnswer);
    const stored = await h.database.query<{ organization_id: string; n: number }>(
      `SELECT organization_id, count(*)::int AS n FROM organization_memberships
       WHERE organization_id = ANY($1::text[]) GROUP BY 1 ORDER BY 1`,
      [organizations],
    );
    expect(stored).toEqual(
      [...organizations].sort().map((id) => ({ organization_id: id, n: id === organizationId ? 21 : 20 })),
    );
    expect(await h.database.query("SELECT role FROM organization_memberships WHERE id = $1", [twice.id])).toEqual([
      { role: "org:admin" },
    ]);
    expect(
      await h.database.query("SELECT count(*)::int AS n FROM organizations WHERE id = ANY($1::text[])", [
        organizations,
      ]),
    ).toEqual([{ n: 3 }]);
    const after = await batchSizes("memberships");
    expect(after.deliveries - before.deliveries).toBe(62);
    expect(after.batches - before.batches).toBeLessThan(31);
  });
});
