import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createLookupCache } from "../../src/accounts/lookup-cache.js";
import { createApp } from "../../src/app.js";
import { MAX_ME_BODY_BYTES } from "../../src/http/me.js";
import { createLogger } from "../../src/logger.js";
import { clerkEvent, clerkUser, TEST_SECRET } from "../helpers/clerk.js";
import { clerkOptions } from "../helpers/clerk-session.js";
import { drivers } from "../helpers/database.js";
import { expectError } from "../helpers/expect-error.js";
import { describeResponse } from "../helpers/harness.js";
import { type Listening, listen } from "../helpers/listen.js";
import { bearer, type MeHarness, openMeHarness } from "../helpers/me-harness.js";

/**
 * PATCHes `totalBytes` to `url` in 1 MiB writes of one reused buffer (the client holds 1 MiB, whatever the size),
 * with a Content-Length or chunked; stops writing once answered. Resolves with the status and the peak RSS of this
 * process (which also runs the server) seen meanwhile.
 */
function patchHuge(
  url: string,
  token: string,
  totalBytes: number,
  declareLength: boolean,
): Promise<{ status: number; body: string; peakRss: number }> {
  const chunk = Buffer.alloc(1024 * 1024, "a");
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 20);
  return new Promise((resolve, reject) => {
    let answered = false;
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      ...(declareLength ? { "content-length": String(totalBytes) } : { "transfer-encoding": "chunked" }),
    };
    const req = request(`${url}/v1/me/workspace`, { method: "PATCH", headers }, (res) => {
      answered = true;
      const parts: Buffer[] = [];
      res.on("data", (part: Buffer) => parts.push(part));
      res.on("end", () => {
        clearInterval(sampler);
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString(), peakRss });
      });
    });
    req.on("error", (error) => {
      if (answered) return; // the server may reset the rest of the upload once it answered
      clearInterval(sampler);
      reject(error);
    });
    let sent = 0;
    const writeMore = () => {
      while (!answered && sent < totalBytes) {
        const part = chunk.subarray(0, Math.min(chunk.length, totalBytes - sent));
        sent += part.length;
        if (!req.write(part)) return void req.once("drain", writeMore);
      }
      if (!answered) req.end();
    };
    writeMore();
  });
}

describe.each(drivers())("/v1/me limits on $name", ({ open }) => {
  let h: MeHarness;
  let server: Listening;
  beforeAll(async () => {
    h = await openMeHarness(await open());
    server = await listen(h.app.fetch);
  });
  afterAll(async () => {
    await server?.close();
    await h?.close();
  });

  const workspaceName = async (id: string) =>
    (await h.database.query<{ name: string }>("SELECT name FROM workspaces WHERE user_id = $1", [id]))[0]?.name;

  test("PATCH /v1/me/workspace over 64 KiB: 413, in-process, with Content-Length", async () => {
    const { id, token } = h.signUp();
    expect((await h.app.request("/v1/me", { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    const body = JSON.stringify({ name: "x".repeat(MAX_ME_BODY_BYTES) });
    const res = await h.app.request("/v1/me/workspace", {
      method: "PATCH",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        "content-length": `${body.length}`,
      },
      body,
    });
    await expectError(res, 413, "payload_too_large");
    expect(await workspaceName(id)).toBe("My Workspace");
  });

  test.each([
    ["with Content-Length", true],
    ["streamed (chunked)", false],
  ])("a 200 MB PATCH %s over a socket: 413, and RSS grows by far less than the body", async (_, declareLength) => {
    const { id, token } = h.signUp();
    const before = process.memoryUsage.rss();
    const { status, body, peakRss } = await patchHuge(server.url, token, 200 * 1024 * 1024, declareLength);
    const grownMb = (peakRss - before) / 1024 / 1024;
    console.info(
      `RSS during a 200 MB PATCH (${declareLength ? "content-length" : "chunked"}): +${grownMb.toFixed(1)} MB`,
    );
    expect(status, body).toBe(413);
    expect(JSON.parse(body)).toMatchObject({ error: { code: "payload_too_large" } });
    expect(grownMb).toBeLessThan(64);
    expect(await workspaceName(id)).toBeUndefined(); // never provisioned: the body was refused first
  });

  test("a body just under the limit is read and validated as before", async () => {
    const { token } = h.signUp();
    const body = JSON.stringify({ name: "x".repeat(MAX_ME_BODY_BYTES - 20) });
    const res = await h.app.request("/v1/me/workspace", {
      method: "PATCH",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body,
    });
    expect(res.status, await describeResponse(res)).toBe(422);
  });

  const lookupsOf = (id: string) => h.api.lookups.filter((looked) => looked === id).length;

  test("a phone-only user: 50 concurrent and 50 sequential /v1/me ask Clerk once", async () => {
    const { id, token } = h.signUp({ email: null, updatedAt: 1_000 });
    const concurrent = await Promise.all(Array.from({ length: 50 }, () => h.me(token)));
    for (const res of concurrent) await expectError(res, 409, "user_not_provisionable");
    for (let i = 0; i < 50; i++) await expectError(await h.me(token), 409, "user_not_provisionable");
    console.info(`Clerk lookups for 50 concurrent + 50 sequential /v1/me of a phone-only user: ${lookupsOf(id)}`);
    expect(lookupsOf(id)).toBe(1);
  });

  test("a webhook for a phone-only user ends what was remembered: the next /v1/me asks Clerk again", async () => {
    const { id, token } = h.signUp({ email: null, updatedAt: 1_000 });
    await expectError(await h.me(token), 409, "user_not_provisionable");
    await expectError(await h.me(token), 409, "user_not_provisionable");
    expect(lookupsOf(id)).toBe(1);
    // The webhook's user is still without an e-mail; by the next request, Clerk has one.
    const stillPhoneOnly = clerkUser({ id, email: null, updatedAt: 2_000 });
    expect((await h.deliver(clerkEvent("user.updated", stillPhoneOnly))).status).toBe(200);
    h.api.users.set(id, clerkUser({ id, email: `${id.toLowerCase()}@example.com`, updatedAt: 3_000 }));
    const res = await h.me(token);
    expect(res.status, await describeResponse(res)).toBe(200);
    expect(lookupsOf(id)).toBe(2);
  });

  test("after a user.updated webhook with an e-mail, the next /v1/me answers the provisioned account", async () => {
    const { id, token } = h.signUp({ email: null, updatedAt: 1_000 });
    await expectError(await h.me(token), 409, "user_not_provisionable");
    const email = `${id.toLowerCase()}@example.com`;
    const res = await h.deliver(clerkEvent("user.updated", clerkUser({ id, email, updatedAt: 2_000 })));
    expect(await res.json()).toMatchObject({ outcome: "provisioned" });
    const answer = await h.me(token);
    expect(answer.status, await describeResponse(answer)).toBe(200);
    expect(await answer.json()).toMatchObject({ user: { id, email } });
    expect(lookupsOf(id)).toBe(1);
  });

  test.each([
    ["../x"],
    ["user_a/../../v1/users"],
    ["user_%2e%2e"],
    [" user_abc"],
    ["user_"],
    [`user_${"a".repeat(100)}`],
    ["org_2abc"],
  ])("a signed token whose sub is %j: 401, Clerk is not asked, nothing written", async (sub) => {
    const before = { lookups: h.api.requests.length, counts: await h.counts() };
    const res = await h.me(h.signer.token({ sub }));
    await expectError(res, 401, "unauthenticated");
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(h.api.requests.length).toBe(before.lookups);
    expect(await h.counts()).toEqual(before.counts);
  });

  test("a pending session (sts: pending) is signed out by default, Clerk not asked; an active one is signed in", async () => {
    const { id } = h.signUp();
    const before = h.api.requests.length;
    await expectError(await h.me(h.signer.token({ sub: id, sts: "pending", v: 2 })), 401, "unauthenticated");
    expect(h.api.requests.length).toBe(before);
    expect((await h.me(h.signer.token({ sub: id, sts: "active", v: 2 }))).status).toBe(200);
  });

  test("a pending session is signed in with acceptPendingSessions", async () => {
    const { id } = h.signUp();
    const lenient = createApp({
      db: h.database.db,
      webhookSigningSecret: TEST_SECRET,
      logger: createLogger("silent"),
      clerk: { ...clerkOptions(h.signer, h.api), acceptPendingSessions: true },
    });
    const res = await lenient.request("/v1/me", { headers: bearer(h.signer.token({ sub: id, sts: "pending", v: 2 })) });
    expect(res.status, await describeResponse(res)).toBe(200);
  });
});

test("the lookup cache forgets 'not provisionable' after its time", async () => {
  let clock = 0;
  const cache = createLookupCache({ ttlMs: 60_000, now: () => clock });
  await cache.shared("user_a", async () => ({ kind: "unprovisionable" }));
  expect(cache.isUnprovisionable("user_a")).toBe(true);
  clock = 59_999;
  expect(cache.isUnprovisionable("user_a")).toBe(true);
  clock = 60_000;
  expect(cache.isUnprovisionable("user_a")).toBe(false);
});

test("the lookup cache never remembers a lookup a webhook outdated while it ran", async () => {
  const cache = createLookupCache({ ttlMs: 60_000, now: () => 0 });
  let finish: (value: { kind: string }) => void = () => {};
  const running = cache.shared("user_b", () => new Promise<{ kind: string }>((resolve) => (finish = resolve)));
  const joined = cache.shared("user_b", async () => ({ kind: "found" }));
  cache.forget("user_b"); // a webhook arrived while Clerk was being asked
  finish({ kind: "unprovisionable" });
  expect(await running).toEqual({ kind: "unprovisionable" });
  expect(await joined).toEqual({ kind: "unprovisionable" });
  expect(cache.isUnprovisionable("user_b")).toBe(false);
});
