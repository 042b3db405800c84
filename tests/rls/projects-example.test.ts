import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkRole } from "../helpers/clerk-teams.js";
import { drivers } from "../helpers/database.js";
import { createHarness, type Harness } from "../helpers/harness.js";
import { asRole } from "../helpers/rls.js";
import { buildTeamWorld, deliver, teamWorld } from "./team-access.js";

/** The example of docs/policies.md, run exactly as written: the first ```sql block. */
const EXAMPLE = /```sql\n([\s\S]*?)```/.exec(readFileSync("docs/policies.md", "utf8"))?.[1] ?? "";

describe.each(drivers())("docs/policies.md's projects example on $name", ({ open }) => {
  let h: Harness;
  const w = teamWorld();
  beforeAll(async () => {
    h = createHarness(await open());
    await buildTeamWorld(h, w);
    expect(EXAMPLE).toMatch(/CREATE TABLE public\.projects/);
    await h.database.transaction(async (query) => {
      for (const statement of EXAMPLE.split(";").filter((s) => s.trim())) await query(statement);
    });
  });
  afterAll(() => h.close());

  const v2 = (sub: string, extra: Record<string, unknown> = {}) => ({ sub, v: 2, o: { id: w.team }, ...extra });
  const insert = (claims: Record<string, unknown>, name: string, organizationId?: string) =>
    asRole(h, "authenticated", claims, (query) =>
      organizationId
        ? query("INSERT INTO projects (organization_id, name) VALUES ($1, $2)", [organizationId, name])
        : query("INSERT INTO projects (name) VALUES ($1)", [name]),
    );
  const names = (claims: Record<string, unknown>) =>
    asRole(h, "authenticated", claims, (query) =>
      query<{ name: string }>("SELECT name FROM projects ORDER BY name").then((rows) => rows.map((r) => r.name)),
    );
  const refused = (work: Promise<unknown>) => expect(work).rejects.toThrow(/row-level security/);

  test("a manager creates (in the token's active organization by default); members read; others do not", async () => {
    await insert(v2(w.alice), "Apollo");
    await insert({ sub: w.dave, org_id: w.team }, "Borealis", w.team); // v1 token, legacy `admin` role
    expect(await names(v2(w.bob))).toEqual(["Apollo", "Borealis"]);
    expect(await names({ sub: w.outsider, v: 2, o: { id: w.team } })).toEqual([]);
    expect(await names(v2(w.alice, { sts: "pending" }))).toEqual([]);
    await expect(asRole(h, "anon", null, (query) => query("SELECT * FROM projects"))).rejects.toThrow(
      /permission denied/,
    );
  });

  test("a member without org:projects:manage, an outsider and a pending session write nothing", async () => {
    await refused(insert(v2(w.bob), "Bob's"));
    await refused(insert({ sub: w.outsider }, "Outsider's", w.team));
    await refused(insert(v2(w.alice, { sts: "pending" }), "Pending"));
    const updated = await asRole(h, "authenticated", v2(w.bob), (query) =>
      query("UPDATE projects SET name = 'x' RETURNING id"),
    );
    expect(updated).toEqual([]);
    const deleted = await asRole(h, "authenticated", v2(w.bob), (query) => query("DELETE FROM projects RETURNING id"));
    expect(deleted).toEqual([]);
    expect(await names(v2(w.bob))).toEqual(["Apollo", "Borealis"]);
  });

  test("a manager renames; once the role loses org:projects:manage in Clerk, the same manager cannot", async () => {
    const rename = (from: string, to: string) =>
      asRole(h, "authenticated", v2(w.alice), (query) =>
        query("UPDATE projects SET name = $2 WHERE name = $1 RETURNING name", [from, to]),
      );
    expect(await rename("Apollo", "Apollo 11")).toEqual([{ name: "Apollo 11" }]);
    await deliver(
      h,
      "role.updated",
      clerkRole({
        id: w.adminRole,
        key: "org:admin",
        permissions: ["org:projects:read"],
        updatedAt: 1_900_000_000_000,
      }),
    );
    expect(await rename("Apollo 11", "Apollo 13")).toEqual([]);
    expect(await names(v2(w.alice))).toEqual(["Apollo 11", "Borealis"]);
  });
});
