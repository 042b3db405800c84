import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { cliDatabases } from "../helpers/cli.js";
import {
  logLine,
  message,
  openReconcileHarness,
  type ReconcileHarness,
  sample,
  scrape,
} from "../helpers/reconcile-harness.js";

/**
 * Two servers on one database (PostgreSQL, directly and through the transaction pooler; PGlite is one process's
 * database): the sync lock lets one run at a time, the other skips, and their runs never overlap.
 */

const TIMEOUT = 90_000;

describe.each(cliDatabases({ pooler: true }).filter((d) => d.name !== "pglite"))(
  "two replicas on $name",
  ({ open }) => {
    let h: ReconcileHarness;
    beforeEach(async () => {
      h = await openReconcileHarness(await open());
    });
    afterEach(() => h?.close());

    test(
      "one runs, the other skips, never both at once",
      async () => {
        h.signUp(20);
        // Each run takes about 4 requests of 600 ms: longer than the interval, so the two replicas' runs collide.
        h.api.latencyMs = 600;
        const [a, b] = await Promise.all([h.serve(1), h.serve(1)]);
        if (!a || !b) throw new Error("two servers");
        const skipped = message("reconcile skipped");
        await Promise.race([logLine(a, skipped, 40_000), logLine(b, skipped, 40_000)]);
        await Promise.all([
          logLine(a, message("reconcile finished"), 40_000),
          logLine(b, message("reconcile finished"), 40_000),
        ]);
        const runs = await h.database.query<{ started: number; finished: number | null; status: string }>(
          `SELECT extract(epoch from started_at) * 1000 AS started, extract(epoch from finished_at) * 1000 AS finished,
                  status FROM sync_runs ORDER BY id`,
        );
        const completed = runs.filter((run) => run.status === "completed");
        expect(completed.length, JSON.stringify(runs)).toBeGreaterThanOrEqual(2);
        for (const [i, run] of completed.entries()) {
          const next = completed[i + 1];
          if (next) expect(Number(next.started)).toBeGreaterThanOrEqual(Number(run.finished));
        }
        const [textA, textB] = await Promise.all([scrape(a), scrape(b)]);
        const count = (text: string, outcome: string) =>
          sample(text, "clerk_sync_runs_total", { mode: "incremental", outcome }) ?? 0;
        expect(count(textA, "skipped") + count(textB, "skipped")).toBeGreaterThanOrEqual(1);
        expect(count(textA, "completed")).toBeGreaterThanOrEqual(1);
        expect(count(textB, "completed")).toBeGreaterThanOrEqual(1);
        expect(count(textA, "failed") + count(textB, "failed")).toBe(0);
        expect(await h.storedUsers()).toHaveLength(20);
      },
      TIMEOUT,
    );
  },
);
