import { describe, expect, it } from "vitest";
import { ServiceError } from "../errors.js";
import { applyIsolating } from "./isolate.js";

const timeout = () => new ServiceError("database_unavailable", "statement timeout", { detail: "57014" });

/** `applyIsolating` over rows 1…n where the rows in `slow` time out; every statement it runs, in order. */
async function run(n: number, slow: ReadonlySet<number>, timeouts = true) {
  const statements: number[][] = [];
  const rows = Array.from({ length: n }, (_, i) => i + 1);
  const outcome = applyIsolating(
    rows,
    async (part) => {
      statements.push([...part]);
      if (part.some((row) => slow.has(row))) throw timeout();
      return part;
    },
    { timeouts },
  );
  return { outcome, statements };
}

describe("applyIsolating on timeouts", () => {
  it("one slow row: the batch, then row by row; the slow row fails alone", async () => {
    const { outcome, statements } = await run(4, new Set([2]));
    const { results, failures } = await outcome;
    expect(statements).toEqual([[1, 2, 3, 4], [1], [2], [3], [4]]);
    expect(results.flat()).toEqual([1, 3, 4]);
    expect(failures.map(({ row, reason }) => [row, reason])).toEqual([[2, "timeout"]]);
  });

  it("every row timing out: each fails alone, four statements at a time at most", async () => {
    let inFlight = 0;
    let most = 0;
    const rows = Array.from({ length: 20 }, (_, i) => i + 1);
    const { results, failures } = await applyIsolating(
      rows,
      async () => {
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 2));
        inFlight--;
        throw timeout();
      },
      { timeouts: true },
    );
    expect(results).toEqual([]);
    expect(failures.map(({ row }) => row).sort((a, b) => a - b)).toEqual(rows);
    expect(most).toBe(4);
  });

  it("a connection lost while rows are retried alone fails the call", async () => {
    const lost = new ServiceError("database_unavailable", "connection lost", { detail: "08006" });
    let calls = 0;
    const outcome = applyIsolating(
      [1, 2, 3],
      async () => {
        calls++;
        throw calls === 1 ? timeout() : lost;
      },
      { timeouts: true },
    );
    await expect(outcome).rejects.toBe(lost);
  });

  it("without `timeouts` (sync pages, replay), a timeout fails the call at once", async () => {
    const { outcome, statements } = await run(4, new Set([2]), false);
    await expect(outcome).rejects.toMatchObject({ detail: "57014" });
    expect(statements).toHaveLength(1);
  });
});
