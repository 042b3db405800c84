import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from "vitest";
import { createApp } from "../../src/app.js";
import { openPglite } from "../../src/db/client.js";
import { createLogger } from "../../src/logger.js";
import { clerkEvent, clerkUser, newSvixId, newUserId, signDelivery, TEST_SECRET } from "../helpers/clerk.js";
import { drivers, openUnreachablePostgres } from "../helpers/database.js";
import { expectError, expectRejected } from "../helpers/expect-error.js";
import { createHarness, describeResponse, type Harness } from "../helpers/harness.js";
import {
  openLockHolder,
  terminateServiceBackends,
  waitForServiceBackendBlocked,
} from "../helpers/postgres-backends.js";

type Json = Record<string, unknown>;

/** A valid user.created with `change` applied to a copy of its `data`. */
function userCreatedWith(change: (data: Json) => void): Json {
  const data = clerkUser();
  change(data);
  return clerkEvent("user.created", data);
}

const firstEmail = (data: Json) => (data.email_addresses as Json[])[0] as Json;

describe.each(drivers({ pooler: true }))("webhook errors on $name", ({ name, open }) => {
  let h: Harness;
  beforeAll(async () => {
    h = createHarness(await open());
  });
  afterAll(() => h.close());

  test.each([
    ["plain text", "not json"],
    ["truncated JSON", '{"type":"user.created","data":{'],
    ["single-quoted keys", "{'type':'user.created'}"],
    ["an empty body", ""],
    ["only whitespace", "  \n"],
    ["JSON with a trailing comma", '{"type":"user.created","data":{},}'],
  ])("signed but %s: 400 invalid_json, nothing written", async (_, body) => {
    await expectRejected(h, () => h.deliver(body), 400, "invalid_json");
  });

  test.each([
    ["email_addresses missing", userCreatedWith((d) => delete d.email_addresses), /^data\.email_addresses: /],
    [
      "email_addresses not an array",
      userCreatedWith((d) => (d.email_addresses = "a@b.co")),
      /^data\.email_addresses: /,
    ],
    [
      "an address without email_address",
      userCreatedWith((d) => delete firstEmail(d).email_address),
      /^data\.email_addresses\.0\.email_address: /,
    ],
    ['updated_at: "x"', userCreatedWith((d) => (d.updated_at = "x")), /^data\.updated_at: /],
    ["updated_at negative", userCreatedWith((d) => (d.updated_at = -1)), /^data\.updated_at: /],
    ["updated_at fractional", userCreatedWith((d) => (d.updated_at = 1.5)), /^data\.updated_at: /],
    ["updated_at missing", userCreatedWith((d) => delete d.updated_at), /^data\.updated_at: /],
    ["id: 5", userCreatedWith((d) => (d.id = 5)), /^data\.id: /],
    ['id: ""', userCreatedWith((d) => (d.id = "")), /^data\.id: /],
    ["first_name: 42", userCreatedWith((d) => (d.first_name = 42)), /^data\.first_name: /],
    ["image_url: {}", userCreatedWith((d) => (d.image_url = {})), /^data\.image_url: /],
    ["a NUL in first_name", userCreatedWith((d) => (d.first_name = "Ada\u0000")), /^data\.first_name: /],
    [
      "a NUL in the e-mail address",
      userCreatedWith((d) => (firstEmail(d).email_address = "a\u0000b@example.com")),
      /^data\.email_addresses\.0\.email_address: /,
    ],
    ["data missing", { type: "user.created", object: "event" }, /^data: /],
    ["data: null", { type: "user.created", data: null }, /^data: /],
    ["data an array", { type: "user.created", data: [] }, /^data: /],
    ["type missing", { data: clerkUser() }, /^type: /],
    ["type: 7", { type: 7, data: clerkUser() }, /^type: /],
    ['type: ""', { type: "", data: clerkUser() }, /^type: /],
    ["user.deleted without data.id", clerkEvent("user.deleted", { object: "user", deleted: true }), /^data\.id: /],
    ["user.deleted with data.id: null", clerkEvent("user.deleted", { id: null, deleted: true }), /^data\.id: /],
    ["user.deleted with a NUL in data.id", clerkEvent("user.deleted", { id: "user_\u0000" }), /^data\.id: /],
    ["a JSON array", [], /^body: /],
    ["JSON null", null, /^body: /],
    ["a JSON string", "a string", /^body: /],
    ["a JSON number", 42, /^body: /],
  ])("signed JSON with %s: 422 invalid_payload naming the field, nothing written", async (_, payload, path) => {
    const error = await expectRejected(h, () => h.deliver(JSON.stringify(payload)), 422, "invalid_payload");
    expect(error.message).toMatch(path);
  });

  test("a rejected payload is not recorded: the same svix id with a valid payload is then applied", async () => {
    const svixId = newSvixId();
    const id = newUserId();
    await expectRejected(
      h,
      () => h.deliver(clerkEvent("user.created", { ...clerkUser({ id }), updated_at: "x" }), { svixId }),
      422,
      "invalid_payload",
    );
    const res = await h.deliver(clerkEvent("user.created", clerkUser({ id })), { svixId });
    expect(res.status, await describeResponse(res)).toBe(200);
    expect(await res.json()).toMatchObject({ outcome: "provisioned" });
  });

  test("unknown extra keys anywhere are accepted", async () => {
    const id = newUserId();
    const data = clerkUser({ id });
    firstEmail(data).brand_new_field = { nested: [1, 2, 3] };
    const payload = {
      ...clerkEvent("user.created", { ...data, some_future_field: true, public_metadata: { plan: "pro" } }),
      event_attributes: { http_request: { client_ip: "192.0.2.1", user_agent: "test" } },
      another_new_key: null,
    };
    const before = await h.counts();
    const res = await h.deliver(payload);
    expect(res.status, await describeResponse(res)).toBe(200);
    expect(await res.json()).toMatchObject({ outcome: "provisioned" });
    expect(await h.counts()).toEqual({
      users: before.users + 1,
      workspaces: before.workspaces + 1,
      deliveries: before.deliveries + 1,
    });
    expect(await h.database.query("SELECT id FROM users WHERE id = $1", [id])).toEqual([{ id }]);
  });

  describe.runIf(name !== "pglite")("the database going away mid-delivery (PostgreSQL)", () => {
    const userRows = async (id: string) => {
      const [row] = await h.database.query<{ users: number; workspaces: number; versions: number; deleted: number }>(
        `SELECT (SELECT count(*)::int FROM users WHERE id = $1) AS users,
                (SELECT count(*)::int FROM workspaces WHERE user_id = $1) AS workspaces,
                (SELECT count(*)::int FROM clerk_user_versions WHERE user_id = $1) AS versions,
                (SELECT count(*)::int FROM clerk_user_versions WHERE user_id = $1 AND deleted_at IS NOT NULL) AS deleted`,
        [id],
      );
      return row;
    };
    const deliveryRecorded = async (svixId: string) =>
      (await h.database.query("SELECT 1 FROM clerk_deliveries WHERE delivery_id = $1", [svixId])).length === 1;
    const url = () => {
      if (!h.database.url) throw new Error("no database url");
      return h.database.url;
    };

    /**
     * Svix's retries of one delivery after the pool's backends were killed. postgres.js may still send on a socket
     * whose close it has not read yet: such an attempt must be a clean 503 (nothing written). Within three, with no
     * restart, one must be accepted.
     */
    const retryUntilAccepted = async (payload: unknown, svixId: string) => {
      const before = await h.counts();
      const statuses: number[] = [];
      for (let attempt = 1; attempt <= 3; attempt++) {
        const res = await h.deliver(payload, { svixId });
        statuses.push(res.status);
        if (res.status === 200) return (await res.json()) as { outcome: string };
        await expectError(res, 503, "database_unavailable");
        expect(await h.counts()).toEqual(before);
      }
      throw new Error(`no retry accepted: ${statuses.join(", ")}`);
    };

    test("backends killed while a user.created waits: 503, nothing half-written, the retry succeeds", async () => {
      const id = newUserId();
      const email = `${id.toLowerCase()}@example.com`;
      const svixId = newSvixId();
      const payload = clerkEvent("user.created", clerkUser({ id, email }));
      // Another session's uncommitted insert of the same e-mail: our single statement has already taken its version
      // row when it blocks on the e-mail's unique index.
      const holder = await openLockHolder(url());
      await holder.query("INSERT INTO users (id, email, username) VALUES ($1, $2, $3)", [
        newUserId(),
        email,
        "holder_x",
      ]);
      const before = await h.counts();
      const pending = h.deliver(payload, { svixId });
      try {
        // pg_stat_activity keeps the first 1 kB of a query's text: the statement's start is what it shows.
        await waitForServiceBackendBlocked(h.database, "with input as%");
        expect(await terminateServiceBackends(h.database)).toBeGreaterThan(0);
        await expectError(await pending, 503, "database_unavailable");
      } finally {
        await holder.rollback();
      }
      expect(await h.counts()).toEqual(before);
      expect(await userRows(id)).toEqual({ users: 0, workspaces: 0, versions: 0, deleted: 0 });
      expect(await deliveryRecorded(svixId)).toBe(false);

      expect(await retryUntilAccepted(payload, svixId)).toMatchObject({ outcome: "provisioned" });
      expect(await userRows(id)).toEqual({ users: 1, workspaces: 1, versions: 1, deleted: 0 });
    });

    test("backends killed inside the user.deleted transaction: 503, the tombstone rolled back, the retry deletes", async () => {
      const id = newUserId();
      const created = await h.deliver(clerkEvent("user.created", clerkUser({ id })));
      expect(created.status, await describeResponse(created)).toBe(200);
      const svixId = newSvixId();
      const payload = clerkEvent("user.deleted", { id, object: "user", deleted: true });
      // The transaction's first statement (tombstone + delivery record) runs; its DELETE then waits for this row lock.
      const holder = await openLockHolder(url());
      await holder.query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", [id]);
      const before = await h.counts();
      const pending = h.deliver(payload, { svixId });
      try {
        await waitForServiceBackendBlocked(h.database, "%delete from%");
        expect(await terminateServiceBackends(h.database)).toBeGreaterThan(0);
        await expectError(await pending, 503, "database_unavailable");
      } finally {
        await holder.rollback();
      }
      expect(await h.counts()).toEqual(before);
      expect(await userRows(id)).toEqual({ users: 1, workspaces: 1, versions: 1, deleted: 0 });
      expect(await deliveryRecorded(svixId)).toBe(false);

      expect(await retryUntilAccepted(payload, svixId)).toMatchObject({ outcome: "deleted" });
      expect(await userRows(id)).toEqual({ users: 0, workspaces: 0, versions: 1, deleted: 1 });
    });

    test("every pooled backend killed between deliveries: the service recovers by itself", async () => {
      const warm = await Promise.all(
        Array.from({ length: 4 }, () => h.deliver(clerkEvent("user.created", clerkUser()))),
      );
      for (const res of warm) expect(res.status, await describeResponse(res)).toBe(200);
      expect(await terminateServiceBackends(h.database)).toBeGreaterThan(0);
      const id = newUserId();
      const payload = clerkEvent("user.created", clerkUser({ id }));
      expect(await retryUntilAccepted(payload, newSvixId())).toMatchObject({ outcome: "provisioned" });
      expect(await userRows(id)).toEqual({ users: 1, workspaces: 1, versions: 1, deleted: 0 });
    });
  });

  describe.runIf(name === "pglite")("the embedded database closed (PGlite)", () => {
    test("503 database_unavailable, and nothing is written (checked by reopening its files)", async () => {
      const dir = mkdtempSync(join(tmpdir(), "cp-error-"));
      onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
      const dataDir = join(dir, "pglite");
      const database = await openPglite(dataDir);
      const app = createApp({ db: database.db, webhookSigningSecret: TEST_SECRET, logger: createLogger("silent") });
      const post = (payload: unknown) => {
        const { body, headers } = signDelivery(payload);
        return app.request("/webhooks/clerk", { method: "POST", body, headers });
      };
      const first = await post(clerkEvent("user.created", clerkUser()));
      expect(first.status, await describeResponse(first)).toBe(200);
      await database.close();

      const error = await expectError(await post(clerkEvent("user.created", clerkUser())), 503, "database_unavailable");
      expect(error.message).not.toMatch(/pglite|closed/i);
      await expectError(
        await post(clerkEvent("user.deleted", { id: newUserId(), deleted: true })),
        503,
        "database_unavailable",
      );

      const reopened = await openPglite(dataDir);
      try {
        const [counts] = await pgliteQuery(reopened.db)(
          `SELECT (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM workspaces) AS workspaces,
                  (SELECT count(*)::int FROM clerk_deliveries) AS deliveries`,
        );
        expect(counts).toEqual({ users: 1, workspaces: 1, deliveries: 1 });
      } finally {
        await reopened.close();
      }
    });
  });
});

describe("a PostgreSQL URL with nothing listening", () => {
  test("503 database_unavailable, without the driver's error text", async () => {
    const database = openUnreachablePostgres();
    try {
      const app = createApp({ db: database.db, webhookSigningSecret: TEST_SECRET, logger: createLogger("silent") });
      for (const payload of [
        clerkEvent("user.created", clerkUser()),
        clerkEvent("user.deleted", { id: newUserId(), deleted: true }),
        clerkEvent("session.created", { id: "sess_1" }),
      ]) {
        const { body, headers } = signDelivery(payload);
        const res = await app.request("/webhooks/clerk", { method: "POST", body, headers });
        const error = await expectError(res, 503, "database_unavailable");
        expect(error.message).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|connect/);
      }
    } finally {
      await database.close();
    }
  });
});

function pgliteQuery(db: unknown) {
  const client = (db as { $client: { query: (q: string, p?: unknown[]) => Promise<{ rows: unknown[] }> } }).$client;
  return async <T>(text: string, params?: unknown[]) => (await client.query(text, params)).rows as T[];
}
