import { createHmac, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";

/** A development-style secret for the benchmark's own service; never a real endpoint's. */
export const BENCH_SECRET = `whsec_${Buffer.from("clerk-provisioner benchmark secret 32b").toString("base64")}`;

const FIXTURES = new URL("../tests/fixtures/clerk/", import.meta.url);
const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), "utf8")) as Record<string, unknown>;
const docsCreated = fixture("docs.user.created");
const dashboardCreated = fixture("dashboard.user.created");
const dashboardDeleted = fixture("dashboard.user.deleted");

/** The size Clerk's `user.*` payloads reach with an OAuth account, a phone number and some metadata. */
const TARGET_BODY_BYTES = 3 * 1024;

/** One delivery as Svix would send it: an id and an unsigned JSON body (signed just before it is sent). */
export interface Delivery {
  svixId: string;
  body: string;
  /** The Clerk user id the event is about. */
  userId: string;
  type: "user.created" | "user.updated" | "user.deleted";
}

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

/**
 * A realistic `user.created` / `user.updated` body (~3 KB): Clerk's published examples (docs and dashboard shapes,
 * alternating) with unique ids and e-mail, a Google account, a phone number, and metadata padding to ~3 KB.
 */
export function userEvent(
  type: "user.created" | "user.updated",
  options: { userId: string; updatedAt: number; index: number },
): Delivery {
  const envelope = options.index % 2 === 0 ? docsCreated : dashboardCreated;
  const base = envelope.data as Record<string, unknown>;
  const { userId } = options;
  const emailId = `idn_${hex(12)}`;
  const email = `${userId.slice("user_".length)}@bench.example.com`;
  const data = {
    ...base,
    id: userId,
    created_at: options.updatedAt - 1000,
    updated_at: options.updatedAt,
    last_sign_in_at: options.updatedAt,
    email_addresses: [
      {
        email_address: email,
        id: emailId,
        linked_to: [{ id: `idn_${hex(12)}`, type: "oauth_google" }],
        object: "email_address",
        reserved: false,
        verification: { status: "verified", strategy: "from_oauth_google", attempts: null, expire_at: null },
        created_at: options.updatedAt - 1000,
        updated_at: options.updatedAt,
      },
    ],
    primary_email_address_id: emailId,
    external_accounts: [
      {
        object: "google_account",
        id: `gac_${hex(12)}`,
        provider: "oauth_google",
        identification_id: `idn_${hex(12)}`,
        provider_user_id: String(100_000_000_000_000_000_000n + BigInt(options.index)),
        approved_scopes: "email https://www.googleapis.com/auth/userinfo.email openid profile",
        email_address: email,
        first_name: "Bench",
        last_name: `User ${options.index}`,
        image_url: `https://lh3.googleusercontent.com/a/${hex(20)}=s1000-c`,
        username: null,
        public_metadata: {},
        label: null,
        verification: { status: "verified", strategy: "oauth_google", attempts: null, expire_at: null },
      },
    ],
    phone_numbers: [
      {
        id: `idn_${hex(12)}`,
        object: "phone_number",
        phone_number: `+1555${String(options.index % 10_000_000).padStart(7, "0")}`,
        reserved_for_second_factor: false,
        default_second_factor: false,
        linked_to: [],
        verification: { status: "verified", strategy: "phone_code", attempts: 1, expire_at: null },
      },
    ],
    first_name: "Bench",
    last_name: `User ${options.index}`,
    image_url: `https://img.clerk.com/${hex(24)}`,
    username: null,
    public_metadata: { plan: "free", onboarding: { step: 3, completed: true }, referrer: "launch" },
    private_metadata: { crm_id: hex(8) },
    unsafe_metadata: { theme: "dark", locale: "en-GB", padding: "" },
  };
  const event = { ...envelope, data, type, timestamp: options.updatedAt, instance_id: "ins_bench" };
  let body = JSON.stringify(event);
  const missing = TARGET_BODY_BYTES - Buffer.byteLength(body);
  if (missing > 0) {
    data.unsafe_metadata.padding = "x".repeat(missing);
    body = JSON.stringify(event);
  }
  return { svixId: `msg_${hex(12)}`, body, userId, type };
}

export function userDeleted(userId: string): Delivery {
  const event = { ...dashboardDeleted, data: { deleted: true, id: userId, object: "user" }, timestamp: Date.now() };
  return { svixId: `msg_${hex(12)}`, body: JSON.stringify(event), userId, type: "user.deleted" };
}

/** User ids carry the run's tag, so each run's rows can be counted apart afterwards. */
export const newUserId = (tag: string) => `user_${tag}${hex(10)}`;

/** `count` distinct `user.created` deliveries, one new user each. */
export function createdDeliveries(tag: string, count: number, from = 0): Delivery[] {
  const now = Date.now();
  return Array.from({ length: count }, (_, i) =>
    userEvent("user.created", { userId: newUserId(tag), updatedAt: now, index: from + i }),
  );
}

/** Each `user.created` delivery sent `copies` times in a row (a redelivering Svix): same svix id, same body. */
export function duplicatedDeliveries(tag: string, distinct: number, copies: number): Delivery[] {
  return createdDeliveries(tag, distinct).flatMap((delivery) => Array.from({ length: copies }, () => delivery));
}

/**
 * Created, then updated, then (one user in three) deleted, in waves of `wave` users so that the events of one user
 * are in flight close together, as after an outage.
 */
export function mixedDeliveries(tag: string, users: number, wave = 32): { deliveries: Delivery[]; deleted: string[] } {
  const deliveries: Delivery[] = [];
  const deleted: string[] = [];
  const now = Date.now();
  for (let start = 0; start < users; start += wave) {
    const ids = Array.from({ length: Math.min(wave, users - start) }, () => newUserId(tag));
    ids.forEach((userId, i) => {
      deliveries.push(userEvent("user.created", { userId, updatedAt: now, index: start + i }));
    });
    ids.forEach((userId, i) => {
      deliveries.push(userEvent("user.updated", { userId, updatedAt: now + 1000, index: start + i }));
    });
    ids.forEach((userId, i) => {
      if ((start + i) % 3 !== 0) return;
      deleted.push(userId);
      deliveries.push(userDeleted(userId));
    });
  }
  return { deliveries, deleted };
}

/**
 * Signs like Svix (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` under the secret's decoded key), with
 * node:crypto so that the load generator stays light; the service verifies with the svix library, so any
 * difference would show as 401s in the table.
 */
export function createSigner(secret: string) {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  return (svixId: string, seconds: number, body: string) =>
    `v1,${createHmac("sha256", key).update(`${svixId}.${seconds}.${body}`).digest("base64")}`;
}

export type Signer = ReturnType<typeof createSigner>;

/** The request bytes of one signed delivery (HTTP/1.1, keep-alive), ready to write to a socket. */
export function signedRequest(sign: Signer, host: string, delivery: Delivery, now = Date.now()): Buffer {
  const seconds = Math.floor(now / 1000);
  const head =
    "POST /webhooks/clerk HTTP/1.1\r\n" +
    `host: ${host}\r\n` +
    "content-type: application/json\r\n" +
    `svix-id: ${delivery.svixId}\r\n` +
    `svix-timestamp: ${seconds}\r\n` +
    `svix-signature: ${sign(delivery.svixId, seconds, delivery.body)}\r\n` +
    `content-length: ${Buffer.byteLength(delivery.body)}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), Buffer.from(delivery.body)]);
}

/**
 * Endless distinct `user.created` deliveries for a soak, cheaply: one realistic body as a template, with the user
 * id, e-mail and svix id substituted.
 */
export function createdDeliveryStream(tag: string): (index: number) => Delivery {
  const sentinel = `user_${tag}${"0".repeat(20)}`;
  const template = userEvent("user.created", { userId: sentinel, updatedAt: Date.now(), index: 0 });
  const sentinelEmail = `${sentinel.slice("user_".length)}@`;
  return () => {
    const userId = newUserId(tag);
    const body = template.body
      .replaceAll(sentinel, userId)
      .replaceAll(sentinelEmail, `${userId.slice("user_".length)}@`);
    return { svixId: `msg_${hex(12)}`, body, userId, type: "user.created" };
  };
}
