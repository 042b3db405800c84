import { spawnSync } from "node:child_process";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { run } from "../../src/cli/prune-deliveries.js";
import { type Database, openPostgres } from "../../src/db/client.js";
import { queryRows } from "../../src/db/query.js";
import { MIN_RETENTION_DAYS, pruneDeliveries } from "../../src/retention/prune-deliveries.js";
import { drivers, type TestDatabase } from "../helpers/database.js";
import { PROJECT_ROOT } from "../helpers/service-process.js";

const DAY_MS = 86_400_000;

describe.each(drivers())("npm run prune-deliveries on $name", ({ name, open }) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await open();
  });
  afterAll(() => database?.close());

  /** Deliveries received `ages` days ago; answers their ids. */
  const seed = async (prefix: string, ages: number[]) => {
    const ids = ages.map((_, i) => `${prefix}_${i}`);
    for (const [i, age] of ages.entries()) {
      await database.query(
        `INSERT INTO clerk_deliveries (delivery_id, event_type, outcome, received_at) VALUES ($1, 'user.created', 'provisioned', $2)`,
        [ids[i], new Date(Date.now() - age * DAY_MS).toISOString()],
      );
    }
    return ids;
  };
  const remaining = async (prefix: string) =>
    (
      await database.query<{ delivery_id: string }>(
        "SELECT delivery_id FROM clerk_deliveries WHERE delivery_id LIKE $1 ORDER BY delivery_id",
        [`${prefix}_%`],
      )
    ).map((row) => row.delivery_id);

  test("removes exactly the deliveries received before the retention, in batches", async () => {
    const ids = await seed("a", [400, 90, 31, 29, 1, 0, 45]);
    expect(await pruneDeliveries(database.db, { olderThanDays: 30, batchSize: 2 })).toBe(4);
    expect(await remaining("a")).toEqual([ids[3], ids[4], ids[5]]);
    expect(await pruneDeliveries(database.db, { olderThanDays: 30, batchSize: 2 })).toBe(0);
  });

  test("run(): exit 0 with a summary; fewer than 30 days or no option is exit 2 and deletes nothing", async () => {
    await seed("b", [100, 60, 5]);
    const out: string[] = [];
    const err: string[] = [];
    const deps = {
      openDatabase: async () => ({ ...database, close: async () => {} }),
      stdout: (text: string) => out.push(text),
      stderr: (text: string) => err.push(text),
    };
    expect(await run(["--older-than-days", String(MIN_RETENTION_DAYS - 1)], deps)).toBe(2);
    expect(await run([], deps)).toBe(2);
    expect(await run(["--older-than-days", "30", "--bogus"], deps)).toBe(2);
    expect(err.join("")).toMatch(/--older-than-days must be an integer from 30/);
    expect(await remaining("b")).toHaveLength(3);
    expect(await run(["--older-than-days", "50"], deps)).toBe(0);
    expect(out.join("")).toMatch(/2 deliveries received over 50 days ago removed/);
    expect(await remaining("b")).toEqual(["b_2"]);
  });

  test("run(): asked to stop (Ctrl-C), it stops before its next batch: exit 130, the rest left for the next run", async () => {
    await seed("i", [100, 90]);
    const err: string[] = [];
    const stop = new AbortController();
    stop.abort("SIGINT");
    const deps = {
      openDatabase: async () => ({ ...database, close: async () => {} }),
      stderr: (text: string) => err.push(text),
      signal: stop.signal,
    };
    expect(await run(["--older-than-days", "30", "--batch-size", "1"], deps)).toBe(130);
    expect(err.join("")).toMatch(/interrupted after a batch \(0 removed\); run it again for the rest/);
    expect(await remaining("i")).toHaveLength(2);
    expect(await run(["--older-than-days", "30"], { ...deps, signal: new AbortController().signal })).toBe(0);
    expect(await remaining("i")).toEqual([]);
  });

  /** `n` deliveries received 40 days ago, `step` apart (`0`: at the same instant), ids `<prefix>_000001` …. */
  const seedMany = (prefix: string, n: number, step: string) =>
    database.query(
      `INSERT INTO clerk_deliveries (delivery_id, event_type, outcome, received_at)
       SELECT $1 || lpad(g::text, 6, '0'), 'user.created', 'provisioned', now() - interval '40 days' + g * $3::interval
       FROM generate_series(1, $2::int) g`,
      [`${prefix}_`, n, step],
    );

  test("more deliveries received at the same instant than a batch holds are all removed", async () => {
    await seedMany("tie", 23, "0");
    expect(await pruneDeliveries(database.db, { olderThanDays: 30, batchSize: 4 })).toBe(23);
    expect(await remaining("tie")).toEqual([]);
  });

  /**
   * Tuples of clerk_deliveries read by sequential and index scans so far, as seen by `db`'s one connection (its
   * own statistics flushed first).
   */
  const tuplesRead = async (db: Database["db"]) => {
    await queryRows(db, sql`SELECT pg_stat_force_next_flush()`);
    const [row] = await queryRows<{ n: number }>(
      db,
      sql`SELECT (seq_tup_read + coalesce(idx_tup_fetch, 0))::int AS n FROM pg_stat_user_tables
        WHERE relname = 'clerk_deliveries'`,
    );
    return row?.n ?? 0;
  };

  test("each batch reads the rows it removes, not those removed before it", async () => {
    await seedMany("walk", 3_000, "1 second");
    // As autovacuum would have: the planner chooses by the table's statistics.
    await database.query("ANALYZE clerk_deliveries");
    const own: Database =
      name === "pglite"
        ? { ...database, close: async () => {} }
        : openPostgres({
            kind: "postgres",
            url: database.url as string,
            poolMax: 1,
            idleTimeoutSeconds: 5,
            connectTimeoutSeconds: 5,
            statementTimeoutMs: 5_000,
          });
    try {
      const before = await tuplesRead(own.db);
      expect(await pruneDeliveries(own.db, { olderThanDays: 30, batchSize: 100 })).toBe(3_000);
      // 30 batches, each finding its 100 rows along the index and removing them by key: about 2 reads a row.
      // Each batch looking from the oldest row again read what was left of the table: about 50,000 here.
      expect(await tuplesRead(own.db)).toBeLessThan(before + 3 * 3_000);
    } finally {
      await own.close();
    }
  });
});

test("the command as a process: --older-than-days 7 exits 2 with the reason on stderr", () => {
  const result = spawnSync(
    process.execPath,
    ["--import", "tsx", "src/bin/prune-deliveries.ts", "--older-than-days", "7"],
    {
      cwd: PROJECT_ROOT,
      encoding: "utf8",
      env: { ...process.env, DATABASE_URL: "" },
    },
  );
  expect(result.status, result.stderr).toBe(2);
  expect(result.stderr).toMatch(/--older-than-days must be an integer from 30/);
});
