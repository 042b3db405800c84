import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkEvent, clerkUser, newUserId } from "../helpers/clerk.js";
import { drivers, type Query } from "../helpers/database.js";
import { createHarness, describeResponse, type Harness } from "../helpers/harness.js";

/** Supabase's Data API runs each request as `anon` or `authenticated` with the token's claims in request.jwt.claims. */
describe.each(drivers())("row-level security on $name", ({ open }) => {
  let h: Harness;
  const alice = newUserId();
  const bob = newUserId();

  beforeAll(async () => {
    h = createHarness(await open());
    for (const id of [alice, bob]) {
      const res = await h.deliver(clerkEvent("user.created", clerkUser({ id })));
      expect(res.status, await describeResponse(res)).toBe(200);
    }
  });
  afterAll(() => h.close());

  /** Runs `work` as `role` with forged claims, as PostgREST would; rolled back afterwards. */
  const as = <T>(role: "anon" | "authenticated", sub: string | null, work: (query: Query) => Promise<T>) =>
    h.database.transaction(async (query) => {
      await query("SELECT set_config('request.jwt.claims', $1, true)", [sub ? JSON.stringify({ sub, role }) : ""]);
      await query(`SET LOCAL ROLE ${role}`);
      return work(query);
    });

  const forbidden = (work: Promise<unknown>) => expect(work).rejects.toThrow(/permission denied/);

  test("an authenticated user sees only its own user row and workspace", async () => {
    await as("authenticated", alice, async (query) => {
      expect((await query<{ id: string }>("SELECT id FROM users")).map((r) => r.id)).toEqual([alice]);
      expect((await query<{ user_id: string }>("SELECT user_id FROM workspaces")).map((r) => r.user_id)).toEqual([
        alice,
      ]);
      expect(await query("SELECT id FROM users WHERE id = $1", [bob])).toEqual([]);
    });
  });

  test("an authenticated user renames its own workspace but not another's", async () => {
    await as("authenticated", alice, async (query) => {
      expect(await query("UPDATE workspaces SET name = 'Alice HQ' WHERE user_id = $1 RETURNING name", [alice])).toEqual(
        [{ name: "Alice HQ" }],
      );
      expect(await query("UPDATE workspaces SET name = 'pwned' WHERE user_id = $1 RETURNING name", [bob])).toEqual([]);
    });
    const [bobsWorkspace] = await h.database.query<{ name: string }>("SELECT name FROM workspaces WHERE user_id = $1", [
      bob,
    ]);
    expect(bobsWorkspace?.name).toBe("My Workspace");
  });

  test("an authenticated user cannot move its workspace to another user", async () => {
    await expect(
      as("authenticated", alice, (query) =>
        query("UPDATE workspaces SET user_id = $1 WHERE user_id = $2", [bob, alice]),
      ),
    ).rejects.toThrow(/permission denied/);
  });

  test.each([
    ["UPDATE users SET email = 'x@example.com'"],
    ["UPDATE users SET subscription_tier = 'pro'"],
    ["DELETE FROM workspaces"],
    ["INSERT INTO workspaces (user_id) VALUES ('user_x')"],
    ["INSERT INTO users (id, email, username) VALUES ('user_x', 'x@example.com', 'xxx')"],
    ["SELECT * FROM clerk_deliveries"],
    ["SELECT * FROM clerk_user_versions"],
  ])("authenticated may not: %s", async (statement) => {
    await forbidden(as("authenticated", alice, (query) => query(statement)));
  });

  test.each([["SELECT * FROM users"], ["SELECT * FROM workspaces"], ["SELECT * FROM clerk_deliveries"]])(
    "anon may not: %s",
    async (statement) => {
      await forbidden(as("anon", null, (query) => query(statement)));
    },
  );

  test("a token without a subject sees nothing", async () => {
    await as("authenticated", null, async (query) => {
      expect(await query("SELECT id FROM users")).toEqual([]);
      expect(await query("SELECT id FROM workspaces")).toEqual([]);
    });
  });

  test("service_role bypasses row-level security", async () => {
    await h.database.transaction(async (query) => {
      await query("SET LOCAL ROLE service_role");
      const rows = await query<{ n: number }>("SELECT count(*)::int AS n FROM users WHERE id = ANY($1)", [
        [alice, bob],
      ]);
      expect(rows[0]?.n).toBe(2);
    });
  });

  test("the service itself (table owner) is not hindered", async () => {
    const res = await h.deliver(
      clerkEvent("user.updated", clerkUser({ id: bob, firstName: "Robert", updatedAt: 1_900_000_000_000 })),
    );
    expect(res.status, await describeResponse(res)).toBe(200);
    expect(await res.json()).toMatchObject({ outcome: "provisioned" });
  });
});
