import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { Webhook } from "svix";

export const TEST_SECRET = `whsec_${Buffer.from("clerk-provisioner test secret, 32 bytes").toString("base64")}`;

export function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../fixtures/clerk/${name}.json`, import.meta.url), "utf8"));
}

const unique = () => randomBytes(8).toString("hex");
export const newUserId = () => `user_${unique()}`;
export const newSvixId = () => `msg_${unique()}`;

export interface UserOptions {
  id?: string;
  email?: string | null;
  username?: string | null;
  firstName?: string | null;
  lastName?: string | null;
  imageUrl?: string;
  updatedAt?: number;
  /** Extra addresses beside the primary one. */
  otherEmails?: string[];
}

/** A Clerk `UserJSON` built on the docs' example payload, with unique ids. */
export function clerkUser(options: UserOptions = {}): Record<string, unknown> {
  const base = fixture("docs.user.created").data as Record<string, unknown>;
  const id = options.id ?? newUserId();
  const email = options.email === undefined ? `${id.toLowerCase()}@example.com` : options.email;
  const primaryId = `idn_${unique()}`;
  const address = (emailAddress: string, addressId: string) => ({
    email_address: emailAddress,
    id: addressId,
    linked_to: [],
    object: "email_address",
    verification: { status: "verified", strategy: "email_code" },
  });
  const addresses = [
    ...(options.otherEmails ?? []).map((other) => address(other, `idn_${unique()}`)),
    ...(email === null ? [] : [address(email, primaryId)]),
  ];
  return {
    ...base,
    id,
    email_addresses: addresses,
    primary_email_address_id: email === null ? null : primaryId,
    username: options.username === undefined ? null : options.username,
    first_name: options.firstName === undefined ? "Ada" : options.firstName,
    last_name: options.lastName === undefined ? "Lovelace" : options.lastName,
    image_url: options.imageUrl ?? "https://img.clerk.com/avatar",
    updated_at: options.updatedAt ?? 1_700_000_000_000,
  };
}

export function clerkEvent(type: string, data: Record<string, unknown>): Record<string, unknown> {
  return { data, object: "event", timestamp: Date.now(), type, instance_id: "ins_test" };
}

export interface SignedDelivery {
  body: string;
  headers: Record<string, string>;
}

/** Signs like Svix does, with the real library. */
export function signDelivery(
  payload: unknown,
  options: { secret?: string; svixId?: string; timestamp?: Date } = {},
): SignedDelivery {
  const body = typeof payload === "string" ? payload : JSON.stringify(payload);
  const svixId = options.svixId ?? newSvixId();
  const timestamp = options.timestamp ?? new Date();
  const signature = new Webhook(options.secret ?? TEST_SECRET).sign(svixId, timestamp, body);
  return {
    body,
    headers: {
      "content-type": "application/json",
      "svix-id": svixId,
      "svix-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
      "svix-signature": signature,
    },
  };
}
