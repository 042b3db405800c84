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

  it("a slow database: three timeouts at most, then the call fails (every row not answered yet)", async () => {
    const { outcome, statements } = await run(100, new Set(Array.from({ length: 100 }, (_, i) => i + 1)));
    await expect(outcome).rejects.toMatchObject({ code: "database_unavailable", detail: "57014" });
    expect(statements).toEqual([Array.from({ length: 100 }, (_, i) => i + 1), [1], [2]]);
  });

  it("without `timeouts` (sync pages, replay), a timeout fails the call at once", async () => {
    const { outcome, statements } = await run(4, new Set([2]), false);
    await expect(outcome).rejects.toMatchObject({ detail: "57014" });
    expect(statements).toHaveLength(1);
  });
});
