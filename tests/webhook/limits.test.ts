import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createApp } from "../../src/app.js";
import { MAX_CLERK_ID_LENGTH, MAX_EMAIL_LENGTH } from "../../src/clerk/events.js";
import { MAX_SVIX_ID_LENGTH } from "../../src/clerk/verify.js";
import { createLogger } from "../../src/logger.js";
import { clerkEvent, clerkUser, newSvixId, signDelivery, TEST_SECRET } from "../helpers/clerk.js";
import { drivers } from "../helpers/database.js";
import { expectRejected } from "../helpers/expect-error.js";
import { createHarness, describeResponse, type Harness } from "../helpers/harness.js";

type Json = Record<string, unknown>;

/** Incompressible text of `length` characters (base64 of random bytes). */
const incompressible = (length: number) =>
  randomBytes(Math.ceil(length * 0.75) + 3)
    .toString("base64")
    .slice(0, length);
const firstEmail = (data: Json) => (data.email_addresses as Json[])[0] as Json;

/** A user.created whose `field` is replaced; the answer must name the field. */
const withField = (change: (data: Json) => void, type = "user.created"): Json => {
  const data = clerkUser();
  change(data);
  return clerkEvent(type, data);
};

const huge = incompressible(10_000);
const overLong: [string, () => Json, RegExp][] = [
  ["data.id", () => withField((d) => (d.id = `user_${huge}`)), /^data\.id: must be at most 64 characters/],
  [
    "data.email_addresses.0.email_address",
    () => withField((d) => (firstEmail(d).email_address = `${huge}@example.com`)),
    /^data\.email_addresses\.0\.email_address: must be at most 254/,
  ],
  [
    "data.email_addresses.0.id",
    () => withField((d) => (firstEmail(d).id = `idn_${huge}`)),
    /^data\.email_addresses\.0\.id: /,
  ],
  [
    "data.primary_email_address_id",
    () => withField((d) => (d.primary_email_address_id = huge)),
    /^data\.primary_email_address_id: /,
  ],
  ["data.username", () => withField((d) => (d.username = huge)), /^data\.username: must be at most 256/],
  ["data.first_name", () => withField((d) => (d.first_name = huge)), /^data\.first_name: /],
  ["data.last_name", () => withField((d) => (d.last_name = huge)), /^data\.last_name: /],
  ["data.image_url", () => withField((d) => (d.image_url = `https://img.clerk.com/${huge}`)), /^data\.image_url: /],
  ["type", () => clerkEvent(`user.${huge}`, clerkUser()), /^type: must be at most 100/],
  [
    "user.deleted data.id",
    () => clerkEvent("user.deleted", { id: `user_${huge}`, object: "user", deleted: true }),
    /^data\.id: must be at most 64/,
  ],
];

describe.each(drivers())("bounded fields on $name", ({ open }) => {
  let h: Harness;
  beforeAll(async () => {
    h = createHarness(await open());
  });
  afterAll(() => h.close());

  test.each(overLong)(
    "10 kB of incompressible text in %s: 422 naming the field, nothing written",
    async (_, make, message) => {
      const error = await expectRejected(h, () => h.deliver(make()), 422, "invalid_payload");
      expect(error.message).toMatch(message);
    },
  );

  test("a 3 kB svix-id, correctly signed: 422 naming svix-id, nothing written", async () => {
    const error = await expectRejected(
      h,
      () => h.deliver(clerkEvent("user.created", clerkUser()), { svixId: `msg_${incompressible(3_000)}` }),
      422,
      "invalid_payload",
    );
    expect(error.message).toMatch(/^svix-id: must be at most 200 characters/);
  });

  test("values at the bounds are provisioned", async () => {
    const id = `user_${incompressible(MAX_CLERK_ID_LENGTH - 5)}`;
    const domain = "@example.com";
    const email = `${incompressible(MAX_EMAIL_LENGTH - domain.length)
      .toLowerCase()
      .replace(/[+/]/g, "x")}${domain}`;
    const svixId = `msg_${incompressible(MAX_SVIX_ID_LENGTH - 4)}`;
    const res = await h.deliver(clerkEvent("user.created", clerkUser({ id, email, firstName: "x".repeat(256) })), {
      svixId,
    });
    expect(res.status, await describeResponse(res)).toBe(200);
    expect(await res.json()).toMatchObject({ outcome: "provisioned" });
    const rows = await h.database.query("SELECT 1 FROM users WHERE id = $1 AND email = $2", [id, email]);
    expect(rows).toHaveLength(1);
  });

  test("a row the database can never store (SQLSTATE 54000, index row too large) answers 422, not 500", async () => {
    // An event path that writes what it is given: the database's own refusal must be a 4xx whatever reaches it.
    const app = createApp({
      db: h.database.db,
      webhookSigningSecret: TEST_SECRET,
      logger: createLogger("silent"),
      applyEvent: async (db, delivery) => {
        await db.execute(
          sql`INSERT INTO clerk_deliveries (delivery_id, event_type, outcome, received_at)
              VALUES (${delivery.deliveryId + incompressible(10_000)}, 'user.created', 'provisioned', now())`,
        );
        return "provisioned";
      },
    });
    const delivery = signDelivery(clerkEvent("user.created", clerkUser()), { svixId: newSvixId() });
    await expectRejected(
      h,
      () => app.request("/webhooks/clerk", { method: "POST", body: delivery.body, headers: delivery.headers }),
      422,
      "invalid_payload",
    );
  });

  test("two ids differing only by a lone surrogate: both 422 naming data.id, neither stored as U+FFFD", async () => {
    const base = `user_${incompressible(20)}`;
    for (const id of [`${base}\ud800`, `${base}\udc00`]) {
      const error = await expectRejected(
        h,
        () => h.deliver(clerkEvent("user.created", clerkUser({ id }))),
        422,
        "invalid_payload",
      );
      expect(error.message).toBe("data.id: must be valid text (no NUL, no lone surrogates)");
    }
    expect(await h.database.query("SELECT 1 FROM clerk_user_versions WHERE user_id LIKE $1", [`${base}%`])).toEqual([]);
  });

  test.each([
    ["data.id (NUL)", () => withField((d) => (d.id = "user_a\u0000b")), "data.id"],
    ["data.username", () => withField((d) => (d.username = "ada\udfff")), "data.username"],
    ["data.first_name", () => withField((d) => (d.first_name = "\ud83dAda")), "data.first_name"],
    ["data.last_name", () => withField((d) => (d.last_name = "Love\udc00lace")), "data.last_name"],
    ["data.image_url", () => withField((d) => (d.image_url = "https://img.clerk.com/\ud800")), "data.image_url"],
    [
      "data.email_addresses.0.email_address",
      () => withField((d) => (firstEmail(d).email_address = "ad\ud800a@example.com")),
      "data.email_addresses.0.email_address",
    ],
    ["type", () => clerkEvent("user.\ud800", clerkUser()), "type"],
    ["user.deleted data.id", () => clerkEvent("user.deleted", { id: "user_\udbff", deleted: true }), "data.id"],
  ])("invalid text in %s: 422 naming the field, nothing written", async (_, make, field) => {
    const error = await expectRejected(h, () => h.deliver(make()), 422, "invalid_payload");
    expect(error.message).toBe(`${field}: must be valid text (no NUL, no lone surrogates)`);
  });

  test("a surrogate pair (an emoji) is valid text", async () => {
    const res = await h.deliver(clerkEvent("user.created", clerkUser({ firstName: "Ada 🚀" })));
    expect(res.status, await describeResponse(res)).toBe(200);
  });
});
