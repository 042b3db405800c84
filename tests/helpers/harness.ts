import { Writable } from "node:stream";
import { expect } from "vitest";
import { type AppDeps, createApp } from "../../src/app.js";
import { createLogger } from "../../src/logger.js";
import { clerkEvent, type SignedDelivery, signDelivery, TEST_SECRET } from "./clerk.js";
import type { TestDatabase } from "./database.js";

export interface Harness {
  database: TestDatabase;
  app: ReturnType<typeof createApp>;
  /** Every log line the app wrote, parsed. */
  logs: Record<string, unknown>[];
  post(delivery: SignedDelivery): Promise<Response>;
  /** Signs `payload` (fresh svix id unless given) and posts it. */
  deliver(payload: unknown, options?: Parameters<typeof signDelivery>[1]): Promise<Response>;
  /** Delivers a Clerk event of `type` (under `svixId` when given) and returns its outcome, asserting a 200. */
  send(type: string, data: Record<string, unknown>, svixId?: string): Promise<string>;
  counts(): Promise<{ users: number; workspaces: number; deliveries: number }>;
  close(): Promise<void>;
}

/** `options.clerk`: session verification and the Backend API, for the `/v1/me` routes. */
export function createHarness(database: TestDatabase, options: Pick<AppDeps, "clerk"> = {}): Harness {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line) logs.push(JSON.parse(line));
      done();
    },
  });
  const app = createApp({
    db: database.db,
    webhookSigningSecret: TEST_SECRET,
    logger: createLogger("info", sink),
    ...options,
  });
  const post = async (delivery: SignedDelivery) =>
    app.request("/webhooks/clerk", { method: "POST", body: delivery.body, headers: delivery.headers });
  return {
    database,
    app,
    logs,
    post,
    deliver: (payload, options) => post(signDelivery(payload, options)),
    send: async (type, data, svixId) => outcomeOf(await post(signDelivery(clerkEvent(type, data), { svixId }))),
    counts: async () => {
      const [row] = await database.query<{ users: number; workspaces: number; deliveries: number }>(
        `SELECT (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM workspaces) AS workspaces,
                (SELECT count(*)::int FROM clerk_deliveries) AS deliveries`,
      );
      if (!row) throw new Error("no counts");
      return row;
    },
    close: () => database.close(),
  };
}

/** Asserting on status with the body in the failure message. */
export async function describeResponse(res: Response): Promise<string> {
  return `${res.status} ${await res.clone().text()}`;
}

/** The outcome of a 200 answer; any other answer fails the test with its body. */
export async function outcomeOf(res: Response): Promise<string> {
  expect(res.status, await describeResponse(res)).toBe(200);
  return ((await res.json()) as { outcome: string }).outcome;
}

/** All orders of a list (6 for three events). */
export function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}
