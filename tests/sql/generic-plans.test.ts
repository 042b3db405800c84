import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { KINDS } from "../../src/provisioning/kinds.js";
import { drivers, type TestDatabase } from "../helpers/database.js";

/**
 * A sync page (`write-many`, 500 rows) runs on PostgreSQL's generic plan, where `unnest` is estimated at 10 rows and a
 * filtered CTE at fewer still. A join planned on those estimates as a nested loop over a CTE compares every row with
 * every row of the CTE: 500 × 250 per membership page, half the page's time. Every page's generic plan must hash such
 * joins; index lookups inside a nested loop are fine. (A coalesced batch, `write-batch`, has at most 100 rows.)
 */

interface PlanNode {
  "Node Type": string;
  Plans?: PlanNode[];
}

/** Every `Nested Loop` whose inner side scans a CTE, as `outer ⋈ inner` node types. */
function nestedLoopsOverCtes(node: PlanNode): string[] {
  const children = node.Plans ?? [];
  const here =
    node["Node Type"] === "Nested Loop" && children[1]?.["Node Type"] === "CTE Scan"
      ? [`${children[0]?.["Node Type"]} ⋈ CTE Scan`]
      : [];
  return [...here, ...children.flatMap(nestedLoopsOverCtes)];
}

const statements = Object.entries(KINDS).flatMap(([kind, { sql }]) =>
  Object.entries(sql)
    .filter(([name]) => name === "write-many")
    .map(([name, text]) => ({ label: `${kind}: ${name}`, text })),
);

describe.each(drivers())("generic plans on $name", ({ open }) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await open();
  });
  afterAll(() => database.close());

  test.each(statements)("$label nested-loops over no CTE", async ({ text }) => {
    const parameters = Math.max(...[...text.matchAll(/\$(\d+)/g)].map((match) => Number(match[1])));
    const plan = await database.transaction(async (query) => {
      await query("SET LOCAL plan_cache_mode = force_generic_plan");
      await query(`PREPARE page_statement AS ${text}`);
      const nulls = Array.from({ length: parameters }, () => "NULL").join(", ");
      const [row] = await query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(
        `EXPLAIN (FORMAT JSON) EXECUTE page_statement(${nulls})`,
      );
      await query("DEALLOCATE page_statement");
      return row?.["QUERY PLAN"][0].Plan;
    });
    expect(plan).toBeDefined();
    expect(nestedLoopsOverCtes(plan as PlanNode)).toEqual([]);
  });
});
