import { describe, expect, it } from "vitest";
import { createLane, type Settled } from "./lane.js";

/** A lane whose batches wait for `release()`, recording each batch it was given. */
function heldLane(limits = { maxItems: 100, maxBytes: 1_000 }) {
  const batches: number[][] = [];
  const releases: (() => void)[] = [];
  const submit = createLane(async (items: readonly number[]): Promise<Settled<string>[]> => {
    batches.push([...items]);
    await new Promise<void>((resolve) => releases.push(resolve));
    return items.map((item) =>
      item < 0 ? { ok: false, error: new Error(`refused ${item}`) } : { ok: true, value: `#${item}` },
    );
  }, limits);
  const release = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    releases.shift()?.();
  };
  return { submit, batches, release };
}

describe("a lane", () => {
  it("runs a lone item at once, alone; items that arrive meanwhile go together in the next batch", async () => {
    const lane = heldLane();
    const first = lane.submit(1, 10);
    expect(lane.batches).toEqual([[1]]);
    const rest = [2, 3, 4].map((item) => lane.submit(item, 10));
    expect(lane.batches).toEqual([[1]]);
    await lane.release();
    expect(await first).toBe("#1");
    await lane.release();
    expect(await Promise.all(rest)).toEqual(["#2", "#3", "#4"]);
    expect(lane.batches).toEqual([[1], [2, 3, 4]]);
  });

  it("bounds a batch by items and by bytes (a single item larger than the bound goes alone)", async () => {
    const lane = heldLane({ maxItems: 3, maxBytes: 100 });
    const all = [
      lane.submit(0, 1),
      ...[1, 2, 3, 4].map((i) => lane.submit(i, 10)),
      lane.submit(5, 500),
      lane.submit(6, 60),
      lane.submit(7, 60),
    ];
    for (let i = 0; i < 6; i++) await lane.release();
    await Promise.all(all);
    expect(lane.batches).toEqual([[0], [1, 2, 3], [4], [5], [6], [7]]);
  });

  it("answers each item its own way: a refused item rejects alone", async () => {
    const lane = heldLane();
    const first = lane.submit(0, 1);
    const answers = [lane.submit(1, 1), lane.submit(-2, 1), lane.submit(3, 1)].map((p) =>
      p.then(
        (value) => value,
        (error: Error) => error.message,
      ),
    );
    await lane.release();
    await first;
    await lane.release();
    expect(await Promise.all(answers)).toEqual(["#1", "refused -2", "#3"]);
  });
});
