import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { type ClerkRetryNotice, createClerkDirectory } from "../src/clerk/backend-api.js";
import { MAX_RETRY_AFTER_MS } from "../src/clerk/retrying.js";
import { isServiceError } from "../src/errors.js";
import { type FakeClerkApi, startFakeClerkApi, TEST_CLERK_SECRET_KEY } from "../support/fake-clerk-api.js";
import { describeRun, openCliPglite, openCliPostgres, startCli } from "./helpers/cli.js";
import { testDatabaseUrl } from "./helpers/database.js";

const TIMEOUT = 90_000;

/**
 * A 429's `Retry-After` beyond reason (an hour; past 2^31 ms, where Node's timer fires after 1 ms) is waited at most
 * MAX_RETRY_AFTER_MS at a time, and the wait says it was capped. The real `@clerk/backend` client, the fake API.
 */
describe("Clerk's Retry-After, capped", () => {
  let api: FakeClerkApi;
  beforeEach(async () => {
    api = await startFakeClerkApi();
  });
  afterEach(() => api?.close());

  /** Every listing request answered 429 with this `Retry-After`. */
  const refuseWith = (retryAfter: string) => {
    api.intercept = (request) =>
      request.path === "/v1/users"
        ? { status: 429, headers: { "retry-after": retryAfter }, body: { errors: [{ code: "too_many_requests" }] } }
        : undefined;
  };
  const listRequests = () => api.requests.filter((request) => request.path === "/v1/users");

  test.each([
    ["3600", 3_600_000],
    ["3000000", 3_000_000_000],
  ])(
    "Retry-After: %s is waited at most a minute, no retry before it; the notice says what was asked",
    async (header, asked) => {
      refuseWith(header);
      const controller = new AbortController();
      const notices: ClerkRetryNotice[] = [];
      const directory = createClerkDirectory({
        secretKey: TEST_CLERK_SECRET_KEY,
        apiUrl: api.url,
        signal: controller.signal,
        onRetry: (notice) => notices.push(notice),
      });
      const listing = directory.listUsers(0, 10).catch((error: unknown) => error);
      await vi.waitFor(() => expect(notices).toHaveLength(1), { timeout: 10_000, interval: 20 });
      expect(notices[0]).toEqual({ attempt: 1, status: 429, delayMs: MAX_RETRY_AFTER_MS, retryAfterMs: asked });
      // Waiting, not retrying (an overflowed timer would have sent the next request at once, again and again).
      await sleep(300);
      expect(listRequests()).toHaveLength(1);
      controller.abort();
      expect(isServiceError(await listing, "interrupted")).toBe(true);
    },
  );

  test("a Retry-After within the cap is waited as asked", async () => {
    let refused = false;
    api.intercept = (request) => {
      if (request.path !== "/v1/users" || refused) return undefined;
      refused = true;
      return { status: 429, headers: { "retry-after": "1" }, body: { errors: [{ code: "too_many_requests" }] } };
    };
    const notices: ClerkRetryNotice[] = [];
    const directory = createClerkDirectory({
      secretKey: TEST_CLERK_SECRET_KEY,
      apiUrl: api.url,
      onRetry: (notice) => notices.push(notice),
    });
    await directory.listUsers(0, 10);
    expect(notices).toEqual([{ attempt: 1, status: 429, delayMs: 1_000, retryAfterMs: 1_000 }]);
  });

  test(
    "npm run sync's progress line says the wait was capped (then Ctrl-C stops it)",
    async () => {
      refuseWith("3600");
      const database = testDatabaseUrl ? await openCliPostgres() : await openCliPglite();
      try {
        const cli = startCli("sync", ["--json", "--progress", "lines"], {
          ...database.env,
          CLERK_SECRET_KEY: TEST_CLERK_SECRET_KEY,
          CLERK_API_URL: api.url,
        });
        await vi.waitFor(() => expect(cli.stderr()).toMatch(/rate limit \(429\)/), { timeout: 60_000, interval: 50 });
        cli.child.kill("SIGINT");
        const result = await cli.exited;
        expect(result.code, describeRun(result)).toBe(130);
        expect(result.stderr).toMatch(
          /Clerk rate limit \(429\): waiting 1m00s \(Retry-After asks 60m00s; capped at 1m00s\)/,
        );
      } finally {
        await database.close();
      }
    },
    TIMEOUT,
  );
});
