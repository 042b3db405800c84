import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { loadConfig } from "../../src/config.js";
import { cliDatabases, expectExit, jsonOf, runCli } from "../helpers/cli.js";
import { type CommandHarness, openCommandHarness } from "../helpers/sync-harness.js";

/** `npm run sync -- --incremental` (the command, in process) and the scheduled reconcile's configuration. */

const TIMEOUT = 60_000;

describe.each(cliDatabases())("npm run sync -- --incremental on $name", ({ open }) => {
  let h: CommandHarness;
  beforeEach(async () => {
    h = await openCommandHarness(await open());
  });
  afterEach(() => h?.close());

  const sync = (...args: string[]) =>
    runCli("sync", ["--json", "--progress", "none", "--page-size", "5", ...args], h.env());
  const userRequests = () => h.api.requests.filter((r) => r.path.startsWith("/v1/users")).length;

  test(
    "reads everything the first time, then only what changed: 2 user requests on a quiet instance",
    async () => {
      let clock = 1_760_000_000_000;
      for (let i = 0; i < 12; i++) h.userInClerk({ updatedAt: clock++ });
      const first = await sync("--incremental");
      expectExit(first, 0);
      expect(jsonOf(first)).toMatchObject({ created: 12 });
      const before = userRequests();
      const quiet = await sync("--incremental");
      expectExit(quiet, 0);
      expect(jsonOf(quiet)).toMatchObject({ created: 0, updated: 0, unchanged: 5 });
      expect(userRequests() - before).toBe(2);
      const newcomer = h.userInClerk({ updatedAt: clock++ });
      const third = await sync("--incremental");
      expect(jsonOf(third)).toMatchObject({ created: 1 });
      const [row] = await h.database.query("SELECT id FROM users WHERE id = $1", [newcomer.id]);
      expect(row).toBeDefined();
    },
    TIMEOUT,
  );

  test("--incremental with --prune is bad usage (exit 2): pruning needs complete listings", async () => {
    const result = await sync("--incremental", "--prune");
    expectExit(result, 2);
    expect(result.stderr).toMatch(/--prune needs complete listings/);
    expect(h.api.requests).toHaveLength(0);
  });
});

describe("the scheduled reconcile's configuration", () => {
  test("defaults 900 and 86400 s, a small share of Clerk's budget; an empty value counts as unset", () => {
    expect(loadConfig({}).sync).toEqual({ intervalMs: 900_000, fullIntervalMs: 86_400_000, requestsPer10s: undefined });
    expect(loadConfig({ SYNC_INTERVAL_SECONDS: "", FULL_SYNC_INTERVAL_SECONDS: " " }).sync.intervalMs).toBe(900_000);
    expect(loadConfig({ SYNC_INTERVAL_SECONDS: "0", SYNC_REQUESTS_PER_10S: "50" }).sync).toMatchObject({
      intervalMs: 0,
      requestsPer10s: 50,
    });
  });

  test.each([
    ["SYNC_INTERVAL_SECONDS", "-1"],
    ["SYNC_INTERVAL_SECONDS", "15m"],
    ["FULL_SYNC_INTERVAL_SECONDS", "1e5"],
    ["SYNC_REQUESTS_PER_10S", "0"],
    ["SYNC_REQUESTS_PER_10S", "20000"],
  ])("%s=%s stops the start naming the variable", (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(name);
  });
});
