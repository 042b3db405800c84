import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { type FakeClerkApi, startFakeClerkApi, TEST_CLERK_SECRET_KEY } from "../../support/fake-clerk-api.js";
import { clerkUser } from "../helpers/clerk.js";
import { type CliDatabase, describeRun, jsonOf, openCliPglite, openCliPostgres, runCli } from "../helpers/cli.js";
import { testDatabaseUrl } from "../helpers/database.js";
import { PROJECT_ROOT } from "../helpers/service-process.js";

const TIMEOUT = 60_000;

test("loadConfig: production needs the webhook signing secret only where deliveries are verified or signed", () => {
  expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(ConfigError);
  expect(loadConfig({ NODE_ENV: "production" }, { receivesWebhooks: false })).toMatchObject({
    env: "production",
    webhookSigningSecret: undefined,
  });
  // Every other variable is still checked.
  expect(() => loadConfig({ NODE_ENV: "production", PORT: "x" }, { receivesWebhooks: false })).toThrow(/^.*PORT/m);
});

/** The operator commands never verify a delivery: NODE_ENV=production without CLERK_WEBHOOK_SIGNING_SECRET runs them. */
describe("the operator commands with NODE_ENV=production and no webhook signing secret", () => {
  let api: FakeClerkApi;
  let database: CliDatabase;
  beforeAll(async () => {
    api = await startFakeClerkApi();
    database = testDatabaseUrl ? await openCliPostgres() : await openCliPglite();
  });
  afterAll(async () => {
    await api?.close();
    await database?.close();
  });

  const env = () => ({
    ...database.env,
    NODE_ENV: "production",
    CLERK_SECRET_KEY: TEST_CLERK_SECRET_KEY,
    CLERK_API_URL: api.url,
  });

  test(
    "npm run sync: runs, exit 0",
    async () => {
      const user = clerkUser();
      api.users.set(user.id as string, { ...user, created_at: 1_700_000_000_000 });
      const result = await runCli("sync", ["--json"], env());
      expect(result.code, describeRun(result)).toBe(0);
      expect(jsonOf(result)).toMatchObject({ status: "completed", created: 1 });
    },
    TIMEOUT,
  );

  test(
    "npm run replay: runs, exit 0",
    async () => {
      const result = await runCli("replay", ["--json"], env());
      expect(result.code, describeRun(result)).toBe(0);
      expect(jsonOf(result)).toMatchObject({ status: "completed", selected: 0 });
    },
    TIMEOUT,
  );

  test(
    "npm run prune-deliveries (the process): runs, exit 0",
    () => {
      const result = spawnSync(
        process.execPath,
        ["--import", "tsx", "src/bin/prune-deliveries.ts", "--older-than-days", "30"],
        {
          cwd: PROJECT_ROOT,
          encoding: "utf8",
          env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME, ...env() },
        },
      );
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^prune-deliveries: 0 deliveries received over 30 days ago removed/);
    },
    TIMEOUT,
  );
});
