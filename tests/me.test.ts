import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createApp } from "../src/app.js";
import type { Db } from "../src/db/types.js";
import { createLogger } from "../src/logger.js";
import { clerkEvent, clerkUser, newUserId, TEST_SECRET, type UserOptions } from "./helpers/clerk.js";
import {
  clerkOptions,
  createSessionSigner,
  type FakeClerkApi,
  otherPrivateKey,
  type SessionSigner,
  startFakeClerkApi,
} from "./helpers/clerk-session.js";
import { drivers } from "./helpers/database.js";
import { createHarness, describeResponse, type Harness } from "./helpers/harness.js";

interface MeBody {
  user: { id: string; email: string; username: string; firstName: string | null; subscriptionTier: string };
  workspace: { id: string; name: string; createdAt: string; updatedAt: string };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function expectError(res: Response, status: number, code: string): Promise<string> {
  const described = await describeResponse(res);
  expect(res.status, described).toBe(status);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body, described).toEqual({ error: { code, message: expect.any(String) } });
  return body.error.message;
}

describe.each(drivers({ pooler: true }))("/v1/me on $name", ({ open }) => {
  let h: Harness;
  let api: FakeClerkApi;
  let signer: SessionSigner;
  beforeAll(async () => {
    signer = createSessionSigner();
    api = await startFakeClerkApi();
    h = createHarness(await open(), { clerk: clerkOptions(signer, api) });
  });
  afterAll(async () => {
    await h?.close();
    await api?.close();
  });

  /** A user that exists in (fake) Clerk, and a session token for it. */
  const signUp = (options: UserOptions = {}) => {
    const user = clerkUser(options);
    const id = user.id as string;
    api.users.set(id, user);
    return { id, user, token: signer.token({ sub: id }) };
  };
  const me = (token: string) => h.app.request("/v1/me", { headers: bearer(token) });
  const rename = (token: string, body: unknown, contentType = "application/json") =>
    h.app.request("/v1/me/workspace", {
      method: "PATCH",
      headers: { ...bearer(token), "content-type": contentType },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  const okJson = async <T = MeBody>(res: Response): Promise<T> => {
    expect(res.status, await describeResponse(res)).toBe(200);
    return (await res.json()) as T;
  };
  const rowsOf = async (id: string) => {
    const [row] = await h.database.query<{ users: number; workspaces: number; deliveries: number }>(
      `SELECT (SELECT count(*)::int FROM users WHERE id = $1) AS users,
              (SELECT count(*)::int FROM workspaces WHERE user_id = $1) AS workspaces,
              (SELECT count(*)::int FROM clerk_deliveries WHERE clerk_user_id = $1) AS deliveries`,
      [id],
    );
    return row;
  };
  const deliveriesOf = (id: string) =>
    h.database.query<{ delivery_id: string; outcome: string }>(
      "SELECT delivery_id, outcome FROM clerk_deliveries WHERE clerk_user_id = $1 ORDER BY processed_at",
      [id],
    );
  const webhookOutcome = async (res: Response) => {
    expect(res.status, await describeResponse(res)).toBe(200);
    return ((await res.json()) as { outcome: string }).outcome;
  };

  describe("GET /v1/me", () => {
    test("a user the webhook provisioned: the user and the workspace, without asking Clerk", async () => {
      const { id, user, token } = signUp({ firstName: "Grace" });
      expect(await webhookOutcome(await h.deliver(clerkEvent("user.created", user)))).toBe("provisioned");
      const body = await okJson(await me(token));
      expect(body).toMatchObject({
        user: { id, email: `${id.toLowerCase()}@example.com`, firstName: "Grace", subscriptionTier: "free" },
        workspace: { id: expect.any(String), name: "My Workspace" },
      });
      expect(Number.isNaN(Date.parse(body.workspace.createdAt))).toBe(false);
      expect(api.lookups).not.toContain(id);
    });

    test("the __session cookie is accepted as well as the Authorization header", async () => {
      const { id, token } = signUp();
      const res = await h.app.request("/v1/me", { headers: { cookie: `theme=dark; __session=${token}` } });
      expect((await okJson(res)).user.id).toBe(id);
      expect(res.headers.get("cache-control")).toBe("no-store");
    });

    test("before the webhook: provisioned just in time from Clerk; the late webhook changes nothing", async () => {
      const { id, user, token } = signUp({ updatedAt: 1_700_000_000_123 });
      const first = await okJson(await me(token));
      expect(first.user.id).toBe(id);
      expect(api.lookups.filter((l) => l === id)).toHaveLength(1);
      expect(await deliveriesOf(id)).toEqual([{ delivery_id: `jit:${id}:1700000000123`, outcome: "provisioned" }]);

      expect(await webhookOutcome(await h.deliver(clerkEvent("user.created", user)))).toBe("stale");
      const again = await okJson(await me(token));
      expect(again.workspace).toEqual(first.workspace);
      expect(await rowsOf(id)).toEqual({ users: 1, workspaces: 1, deliveries: 2 });
      expect(api.lookups.filter((l) => l === id)).toHaveLength(1);
    });

    test("the race: the webhook and /v1/me for a new user at the same moment, many times: one user, one workspace", async () => {
      const winners = { webhook: 0, jit: 0 };
      const jitter = (ms: number) => sleep(Math.floor(Math.random() * ms));
      const webhooks = new Map<string, Promise<Response>>();
      // Half the rounds start everything at once; the other half start the webhook when Clerk is asked for the user,
      // so that it and the just-in-time write reach the database together (webhooks are otherwise the faster path).
      api.onLookup = async (userId) => {
        const user = api.users.get(userId);
        if (!user || webhooks.has(userId)) return;
        webhooks.set(
          userId,
          jitter(3).then(() => h.deliver(clerkEvent("user.created", user))),
        );
      };
      try {
        for (let round = 0; round < 30; round++) {
          const { id, user, token } = signUp();
          const atOnce = round % 2 === 0;
          if (atOnce)
            webhooks.set(
              id,
              jitter(4).then(() => h.deliver(clerkEvent("user.created", user))),
            );
          const answers = await Promise.all(Array.from({ length: 3 }, () => jitter(4).then(() => me(token))));
          const webhook = webhooks.get(id);
          expect(webhook, `round ${round}: the webhook was sent`).toBeDefined();
          expect(["provisioned", "stale"]).toContain(await webhookOutcome(await (webhook as Promise<Response>)));
          const bodies = await Promise.all(answers.map((res) => okJson(res)));
          expect(new Set(bodies.map((b) => b.workspace.id)).size, `round ${round}`).toBe(1);
          expect(await rowsOf(id)).toMatchObject({ users: 1, workspaces: 1 });
          const provisioned = (await deliveriesOf(id)).filter((d) => d.outcome === "provisioned");
          expect(provisioned, `round ${round}`).toHaveLength(1);
          winners[provisioned[0]?.delivery_id.startsWith("jit:") ? "jit" : "webhook"]++;
        }
      } finally {
        api.onLookup = undefined;
      }
      // Both orders happened: the webhook first (the JIT write is stale) and the JIT first (the webhook is stale).
      expect(winners.jit, JSON.stringify(winners)).toBeGreaterThan(0);
      expect(winners.webhook, JSON.stringify(winners)).toBeGreaterThan(0);
    });

    test("the webhook landing between the miss and the just-in-time write: the JIT write is stale and changes nothing", async () => {
      const { id, user, token } = signUp();
      let webhook: string | undefined;
      api.onLookup = async (userId) => {
        if (userId === id) webhook = await webhookOutcome(await h.deliver(clerkEvent("user.created", user)));
      };
      try {
        const body = await okJson(await me(token));
        expect(body.user.id).toBe(id);
      } finally {
        api.onLookup = undefined;
      }
      expect(webhook).toBe("provisioned");
      expect((await deliveriesOf(id)).map((d) => d.outcome).sort()).toEqual(["provisioned", "stale"]);
      expect(await rowsOf(id)).toMatchObject({ users: 1, workspaces: 1 });
    });

    test("many requests at once for a new user share one delivery id: one account, one recorded delivery", async () => {
      const { id, token } = signUp();
      const bodies = await Promise.all(Array.from({ length: 10 }, async () => okJson(await me(token))));
      expect(new Set(bodies.map((b) => b.workspace.id)).size).toBe(1);
      expect(await rowsOf(id)).toEqual({ users: 1, workspaces: 1, deliveries: 1 });
    });

    test("a user deleted in Clerk (404 from the Backend API) gets 404, and nothing is written", async () => {
      const id = newUserId();
      const token = signer.token({ sub: id });
      const before = await h.counts();
      expect(await expectError(await me(token), 404, "user_deleted")).toMatch(/deleted/);
      await expectError(await rename(token, { name: "Mine" }), 404, "user_deleted");
      expect(api.lookups).toContain(id);
      expect(await h.counts()).toEqual(before);
    });

    test("a user deleted by webhook is never resurrected, even while Clerk still answers for it", async () => {
      const { id, user, token } = signUp();
      await okJson(await me(token));
      expect(
        await webhookOutcome(await h.deliver(clerkEvent("user.deleted", { id, object: "user", deleted: true }))),
      ).toBe("deleted");
      const lookups = api.lookups.length;
      await expectError(await me(token), 404, "user_deleted");
      await expectError(await rename(token, { name: "Back" }), 404, "user_deleted");
      expect(api.lookups).toHaveLength(lookups);
      expect(await rowsOf(id)).toMatchObject({ users: 0, workspaces: 0 });
      expect(await webhookOutcome(await h.deliver(clerkEvent("user.updated", { ...user, updated_at: 9e12 })))).toBe(
        "stale",
      );
      await expectError(await me(token), 404, "user_deleted");
    });

    test("a Clerk user without a usable e-mail: 409, recorded as skipped once, also on repeat", async () => {
      const { id, token } = signUp({ email: null });
      await expectError(await me(token), 409, "user_not_provisionable");
      await expectError(await me(token), 409, "user_not_provisionable");
      expect(await rowsOf(id)).toEqual({ users: 0, workspaces: 0, deliveries: 1 });
    });

    test("Clerk's Backend API failing: 503, nothing written; it works once Clerk is back", async () => {
      const { id, token } = signUp();
      api.failWith = 500;
      try {
        await expectError(await me(token), 503, "clerk_unavailable");
      } finally {
        api.failWith = undefined;
      }
      expect(await rowsOf(id)).toEqual({ users: 0, workspaces: 0, deliveries: 0 });
      expect((await okJson(await me(token))).user.id).toBe(id);
    });
  });

  describe("authentication", () => {
    test("missing, expired, wrong-key, tampered, unsigned and foreign-party tokens answer 401", async () => {
      const { id, token } = signUp();
      const now = Math.floor(Date.now() / 1000);
      const [head, , signature] = token.split(".");
      const tampered = `${head}.${Buffer.from(JSON.stringify({ sub: "user_someone_else", exp: now + 60 })).toString("base64url")}.${signature}`;
      const unsigned = `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${Buffer.from(JSON.stringify({ sub: id, exp: now + 60, iat: now })).toString("base64url")}.`;
      const cases: [string, Record<string, string>, RegExp?][] = [
        ["no token", {}, /no session token/],
        ["empty bearer", { authorization: "Bearer " }],
        ["basic auth", { authorization: "Basic dXNlcjpwYXNz" }],
        ["garbage", bearer("not-a-jwt")],
        ["expired", bearer(signer.token({ sub: id, iat: now - 600, nbf: now - 610, exp: now - 540 })), /expired/],
        ["not active yet", bearer(signer.token({ sub: id, nbf: now + 600, iat: now, exp: now + 660 }))],
        ["signed by another key", bearer(signer.token({ sub: id }, { key: otherPrivateKey() }))],
        ["tampered payload", bearer(tampered)],
        ["alg none", bearer(unsigned)],
        ["foreign azp", bearer(signer.token({ sub: id, azp: "https://evil.example" })), /authorized party/],
        ["expired cookie", { cookie: `__session=${signer.token({ sub: id, iat: now - 600, exp: now - 540 })}` }],
      ];
      for (const [name, headers, message] of cases) {
        const res = await h.app.request("/v1/me", { headers });
        const text = await expectError(res, 401, "unauthenticated");
        if (message) expect(text, name).toMatch(message);
        expect(res.headers.get("www-authenticate"), name).toMatch(/^Bearer/);
      }
      expect(await rowsOf(id)).toEqual({ users: 0, workspaces: 0, deliveries: 0 });
    });

    test("the token is checked before the body: a bad token with a bad body is 401, not 422", async () => {
      const res = await h.app.request("/v1/me/workspace", {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: 5 }),
      });
      await expectError(res, 401, "unauthenticated");
    });
  });

  describe("PATCH /v1/me/workspace", () => {
    test("renames with the name trimmed; 200 with the workspace; GET shows it", async () => {
      const { id, token } = signUp();
      const before = await okJson(await me(token));
      const renamed = await okJson<MeBody["workspace"]>(await rename(token, { name: "  Acme Research \t" }));
      expect(renamed).toMatchObject({ id: before.workspace.id, name: "Acme Research" });
      expect(Date.parse(renamed.updatedAt)).toBeGreaterThanOrEqual(Date.parse(before.workspace.updatedAt));
      expect((await okJson(await me(token))).workspace.name).toBe("Acme Research");
      const [row] = await h.database.query<{ name: string }>("SELECT name FROM workspaces WHERE user_id = $1", [id]);
      expect(row?.name).toBe("Acme Research");
    });

    test("100 characters are accepted, counted like PostgreSQL's char_length (an emoji is one)", async () => {
      const { token } = signUp();
      expect((await okJson<MeBody["workspace"]>(await rename(token, { name: "a".repeat(100) }))).name).toHaveLength(
        100,
      );
      const emoji = "🚀".repeat(100);
      expect((await okJson<MeBody["workspace"]>(await rename(token, { name: emoji }))).name).toBe(emoji);
    });

    test("bad names answer 422 naming the field, and change nothing", async () => {
      const { id, token } = signUp();
      await okJson<MeBody["workspace"]>(await rename(token, { name: "Kept" }));
      const cases: [string, unknown, RegExp][] = [
        ["empty", { name: "" }, /^name: must not be empty/],
        ["spaces only", { name: "   " }, /^name: must not be empty/],
        ["101 characters", { name: "x".repeat(101) }, /^name: must be at most 100 characters/],
        ["101 emoji", { name: "🚀".repeat(101) }, /^name: must be at most 100 characters/],
        ["a number", { name: 42 }, /^name: must be a string/],
        ["null", { name: null }, /^name: must be a string/],
        ["an object", { name: { first: "a" } }, /^name: must be a string/],
        ["missing", {}, /^name: is required/],
        ["NUL", { name: "a\u0000b" }, /^name: must be valid text/],
        ["an extra key", { name: "Ok", user_id: "user_other" }, /user_id/],
        ["not an object", ["Ok"], /^body: /],
      ];
      for (const [name, body, message] of cases) {
        expect(await expectError(await rename(token, body), 422, "invalid_request"), name).toMatch(message);
      }
      await expectError(await rename(token, "{not json"), 400, "invalid_json");
      await expectError(
        await rename(token, "name=Acme", "application/x-www-form-urlencoded"),
        415,
        "unsupported_media_type",
      );
      const [row] = await h.database.query<{ name: string }>("SELECT name FROM workspaces WHERE user_id = $1", [id]);
      expect(row?.name).toBe("Kept");
    });

    test("renaming before the webhook arrived provisions the user just in time first", async () => {
      const { id, token } = signUp();
      expect((await okJson<MeBody["workspace"]>(await rename(token, { name: "Day One" }))).name).toBe("Day One");
      expect(await rowsOf(id)).toMatchObject({ users: 1, workspaces: 1 });
      expect((await okJson(await me(token))).workspace.name).toBe("Day One");
    });

    test("user A cannot touch user B's workspace", async () => {
      const a = signUp();
      const b = signUp();
      const bBefore = await okJson(await me(b.token));
      await okJson<MeBody["workspace"]>(await rename(a.token, { name: "A's" }));
      await expectError(await rename(a.token, { name: "A's", user_id: b.id }), 422, "invalid_request");
      await expectError(
        await rename(a.token, { name: "A's", workspace_id: bBefore.workspace.id }),
        422,
        "invalid_request",
      );
      for (const path of [`/v1/workspaces/${bBefore.workspace.id}`, `/v1/me/workspace/${bBefore.workspace.id}`]) {
        const res = await h.app.request(path, {
          method: "PATCH",
          headers: { ...bearer(a.token), "content-type": "application/json" },
          body: JSON.stringify({ name: "Taken" }),
        });
        await expectError(res, 404, "not_found");
      }
      const bAfter = await okJson(await me(b.token));
      expect(bAfter.workspace).toEqual(bBefore.workspace);
      expect((await okJson(await me(a.token))).workspace.name).toBe("A's");
    });
  });

  test("GET /openapi.json lists the routes, generated from the schemas that validate them", async () => {
    const doc = (await okJson(await h.app.request("/openapi.json"))) as unknown as {
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>>;
      components: { schemas: Record<string, { properties: Record<string, Record<string, unknown>> }> };
    };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/v1/me", "/v1/me/workspace"]));
    expect(Object.keys(doc.paths["/v1/me"] ?? {})).toEqual(["get"]);
    expect(Object.keys(doc.paths["/v1/me/workspace"] ?? {})).toEqual(["patch"]);
    expect(doc.paths["/v1/me/workspace"]?.patch?.requestBody?.content["application/json"]?.schema).toEqual({
      $ref: "#/components/schemas/RenameWorkspace",
    });
    expect(doc.components.schemas.RenameWorkspace?.properties.name).toMatchObject({
      type: "string",
      minLength: 1,
      maxLength: 100,
    });
    expect(Object.keys(doc.components.schemas.Me?.properties ?? {})).toEqual(["user", "workspace", "organizations"]);
  });
});

describe("session verification comes before any database query", () => {
  let api: FakeClerkApi;
  let signer: SessionSigner;
  const touched: string[] = [];
  /** A database that records and refuses every use. */
  const db = new Proxy({} as Db, {
    get(_target, property) {
      touched.push(String(property));
      throw new Error(`database touched: ${String(property)}`);
    },
  });
  beforeAll(async () => {
    signer = createSessionSigner();
    api = await startFakeClerkApi();
  });
  afterAll(() => api?.close());

  test("401 for missing, expired and forged tokens without touching the database", async () => {
    const app = createApp({
      db,
      webhookSigningSecret: TEST_SECRET,
      logger: createLogger("silent"),
      clerk: clerkOptions(signer, api),
    });
    const id = newUserId();
    const now = Math.floor(Date.now() / 1000);
    const tokens = [
      undefined,
      signer.token({ sub: id, iat: now - 600, exp: now - 540 }),
      signer.token({ sub: id }, { key: otherPrivateKey() }),
    ];
    for (const token of tokens) {
      const headers = token ? bearer(token) : {};
      await expectError(await app.request("/v1/me", { headers }), 401, "unauthenticated");
      const patch = await app.request("/v1/me/workspace", {
        method: "PATCH",
        headers: { ...headers, "content-type": "application/json" },
        body: JSON.stringify({ name: "x" }),
      });
      await expectError(patch, 401, "unauthenticated");
    }
    expect(touched).toEqual([]);
    expect(api.lookups).toEqual([]);
    // The same app with a valid token does reach the (refusing) database: the check above is not vacuous.
    await expectError(await app.request("/v1/me", { headers: bearer(signer.token({ sub: id })) }), 500, "internal");
    expect(touched.length).toBeGreaterThan(0);
  });

  test("no key configured: 503 for a token (never 200), 401 without one", async () => {
    const app = createApp({ db, webhookSigningSecret: TEST_SECRET, logger: createLogger("silent") });
    await expectError(await app.request("/v1/me"), 401, "unauthenticated");
    await expectError(
      await app.request("/v1/me", { headers: bearer(signer.token({ sub: newUserId() })) }),
      503,
      "auth_unavailable",
    );
  });
});
