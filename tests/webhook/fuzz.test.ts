import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkEvent, clerkUser, newSvixId, newUserId, signDelivery, TEST_SECRET } from "../helpers/clerk.js";
import { drivers } from "../helpers/database.js";
import { createHarness, type Harness } from "../helpers/harness.js";

/** Property-based abuse of POST /webhooks/clerk: bounded in runs, seeded by fast-check (the seed is printed on failure). */
const RUNS = 150;

const USER_FIELDS = [
  "id",
  "email_addresses",
  "primary_email_address_id",
  "username",
  "first_name",
  "last_name",
  "image_url",
  "updated_at",
] as const;

/** A user event with some fields replaced by arbitrary JSON (or removed), and sometimes an arbitrary type. */
const mutatedUserEvent = fc
  .record({
    type: fc.oneof(
      { arbitrary: fc.constantFrom("user.created", "user.updated", "user.deleted"), weight: 6 },
      fc.string(),
    ),
    email: fc.oneof(
      { arbitrary: fc.emailAddress(), weight: 6 },
      fc.string(),
      fc.string({ unit: "binary", maxLength: 40 }),
    ),
    username: fc.option(fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: "binary", maxLength: 80 }))),
    firstName: fc.option(fc.string({ unit: "binary", maxLength: 200 })),
    updatedAt: fc.oneof(
      { arbitrary: fc.integer({ min: 0 }), weight: 6 },
      fc.double(),
      fc.constant(Number.MAX_SAFE_INTEGER),
    ),
    replaced: fc.option(
      fc.dictionary(fc.constantFrom(...USER_FIELDS), fc.option(fc.jsonValue({ maxDepth: 3 })), { maxKeys: 2 }),
      { nil: {} },
    ),
  })
  .map(({ type, email, username, firstName, updatedAt, replaced }) => {
    const data: Record<string, unknown> = clerkUser({ email, username, firstName, updatedAt });
    for (const [key, value] of Object.entries(replaced)) {
      if (value === null) delete data[key];
      else data[key] = value;
    }
    return clerkEvent(type, data);
  });

const anyBody = fc.oneof(
  fc.jsonValue().map((value) => JSON.stringify(value)),
  fc.string(),
  fc.string({ unit: "binary" }),
  { arbitrary: mutatedUserEvent.map((event) => JSON.stringify(event)), weight: 5 },
);

/** Where a huge string goes: a field of the user, the event type, a deleted user's id, or the svix-id header. */
const HUGE_TARGETS = [
  ...USER_FIELDS.filter((field) => field !== "updated_at" && field !== "email_addresses"),
  "email_address",
  "email_address_id",
  "type",
  "deleted_id",
  "svix_id",
] as const;

/**
 * 10 kB–500 kB of text, either incompressible (a seeded xorshift over printable ASCII and some BMP letters, so the
 * database cannot compress it below an index entry's limit) or one character repeated.
 */
const hugeString = fc
  .record({ length: fc.integer({ min: 10_000, max: 500_000 }), random: fc.boolean(), seed: fc.integer({ min: 1 }) })
  .map(({ length, random, seed }) => {
    if (!random) return "a".repeat(length);
    let state = seed;
    const units = new Uint16Array(length);
    for (let i = 0; i < length; i++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      const pick = (state >>> 0) % 200;
      units[i] = pick < 94 ? 0x21 + pick : 0x4e00 + pick;
    }
    return new TextDecoder("utf-16le").decode(units);
  });

const hugeFieldDelivery = fc
  .record({ target: fc.constantFrom(...HUGE_TARGETS), text: hugeString })
  .map(({ target, text }) => {
    const data: Record<string, unknown> = clerkUser();
    const address = (data.email_addresses as Record<string, unknown>[])[0] as Record<string, unknown>;
    let type = "user.created";
    let svixId: string | undefined;
    if (target === "email_address") address.email_address = `${text}@example.com`;
    else if (target === "email_address_id") address.id = text;
    else if (target === "type") type = `user.${text}`;
    else if (target === "svix_id")
      svixId = `msg_${text.replace(/[^\x21-\x7e]/g, "x")}`; // a header is bytes
    else if (target === "deleted_id") {
      type = "user.deleted";
      data.id = text;
    } else data[target] = text;
    return { target, length: text.length, event: clerkEvent(type, data), svixId };
  });

const maybeHeader = fc.option(fc.oneof(fc.string({ maxLength: 60 }), fc.stringMatching(/^v1,[A-Za-z0-9+/=]{0,60}$/)), {
  nil: undefined,
});

describe.each(drivers())("webhook fuzzing on $name", ({ open }) => {
  let h: Harness;
  beforeAll(async () => {
    h = createHarness(await open());
  });
  afterAll(() => h.close());

  const contractHolds = async () => {
    const [row] = await h.database.query<{ orphans: number; homeless: number; doubled: number }>(`SELECT
      (SELECT count(*)::int FROM workspaces w LEFT JOIN users u ON u.id = w.user_id WHERE u.id IS NULL) AS orphans,
      (SELECT count(*)::int FROM users u LEFT JOIN workspaces w ON w.user_id = u.id WHERE w.id IS NULL) AS homeless,
      (SELECT count(*)::int FROM (SELECT user_id FROM workspaces GROUP BY user_id HAVING count(*) > 1) d) AS doubled`);
    expect(row).toEqual({ orphans: 0, homeless: 0, doubled: 0 });
  };

  test("correctly signed random and mutated payloads: a 2xx/4xx answer, never a 5xx, never a broken row", async () => {
    const answers = new Set<string>();
    await fc.assert(
      fc.asyncProperty(anyBody, async (body) => {
        const res = await h.deliver(body);
        const text = await res.text();
        expect([200, 400, 409, 422], `${res.status} ${text}`).toContain(res.status);
        const answer = JSON.parse(text) as { outcome?: string; error?: { code: string } };
        if (res.status !== 200) expect(answer).toMatchObject({ error: { code: expect.any(String) } });
        answers.add(answer.outcome ?? answer.error?.code ?? "");
      }),
      { numRuns: RUNS },
    );
    // The generators reach the interesting paths, not only the rejections.
    expect([...answers]).toEqual(expect.arrayContaining(["provisioned", "invalid_payload", "invalid_json"]));
    await contractHolds();
  });

  test("10 kB–500 kB strings (random and repeated) in every field: 4xx, never 5xx, nothing written", async () => {
    const before = await h.counts();
    await fc.assert(
      fc.asyncProperty(hugeFieldDelivery, async ({ target, length, event, svixId }) => {
        const res = await h.deliver(event, svixId === undefined ? {} : { svixId });
        const text = await res.text();
        expect([413, 422], `${target} (${length} chars): ${res.status} ${text.slice(0, 200)}`).toContain(res.status);
      }),
      { numRuns: 40 },
    );
    expect(await h.counts()).toEqual(before);
  });

  test("the same mutated payloads delivered twice change nothing the second time", async () => {
    await fc.assert(
      fc.asyncProperty(mutatedUserEvent, async (event) => {
        const svixId = newSvixId();
        const first = await h.deliver(event, { svixId });
        const before = await h.counts();
        const second = await h.deliver(event, { svixId });
        expect(second.status).toBe(first.status);
        if (first.status === 200) expect(await second.json()).toMatchObject({ outcome: "duplicate" });
        expect(await h.counts()).toEqual(before);
      }),
      { numRuns: RUNS / 3 },
    );
    await contractHolds();
  });

  test("random headers and bodies without the right signature: 400/401, nothing written", async () => {
    const before = await h.counts();
    await fc.assert(
      fc.asyncProperty(anyBody, maybeHeader, maybeHeader, maybeHeader, async (body, id, timestamp, signature) => {
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (id !== undefined) headers["svix-id"] = id;
        if (timestamp !== undefined) headers["svix-timestamp"] = timestamp;
        if (signature !== undefined) headers["svix-signature"] = signature;
        const res = await h.post({ body, headers });
        expect([400, 401], `${res.status} ${await res.clone().text()}`).toContain(res.status);
      }),
      { numRuns: RUNS },
    );
    expect(await h.counts()).toEqual(before);
  });

  test("a valid delivery re-signed after any one-byte change is refused", async () => {
    const payload = JSON.stringify(clerkEvent("user.created", clerkUser({ id: newUserId() })));
    const before = await h.counts();
    await fc.assert(
      fc.asyncProperty(fc.nat(payload.length - 1), fc.integer({ min: 1, max: 127 }), async (at, code) => {
        const signed = signDelivery(payload, { secret: TEST_SECRET });
        const tampered =
          payload.slice(0, at) + String.fromCharCode((payload.charCodeAt(at) + code) % 128) + payload.slice(at + 1);
        fc.pre(tampered !== payload);
        const res = await h.post({ body: tampered, headers: signed.headers });
        expect(res.status).toBe(401);
      }),
      { numRuns: RUNS / 3 },
    );
    expect(await h.counts()).toEqual(before);
  });
});
