import { z } from "zod";

/** Text we store: PostgreSQL `text` cannot hold U+0000, so such a payload is invalid rather than a 500. */
const storedText = z.string().refine((value) => !value.includes("\u0000"), "must not contain NUL (U+0000)");
const nullableText = storedText.nullable().optional();

const ClerkEmailAddressSchema = z.looseObject({ id: z.string(), email_address: storedText });

/** The fields of Clerk's `UserJSON` we use; Clerk adds fields freely, so unknown keys pass. */
const ClerkUserSchema = z.looseObject({
  id: storedText.min(1),
  email_addresses: z.array(ClerkEmailAddressSchema),
  primary_email_address_id: nullableText,
  username: nullableText,
  first_name: nullableText,
  last_name: nullableText,
  image_url: nullableText,
  updated_at: z.number().int().nonnegative(),
});

const DeletedObjectSchema = z.looseObject({ id: storedText.min(1) });

const EnvelopeSchema = z.looseObject({
  type: storedText.min(1),
  data: z.looseObject({}),
});

export interface ClerkUser {
  id: string;
  /** The primary address, lower-cased; null when the primary id points at nothing. */
  primaryEmail: string | null;
  username: string | null;
  firstName: string | null;
  lastName: string | null;
  imageUrl: string | null;
  /** Clerk's `data.updated_at`, in ms: the version of this state. */
  updatedAt: number;
}

export type ClerkEvent =
  | { type: "user.created" | "user.updated"; user: ClerkUser }
  | { type: "user.deleted"; userId: string }
  | { type: "ignored"; eventType: string };

export class InvalidPayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidPayloadError";
  }
}

function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, prefix: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = [prefix, ...(issue?.path ?? [])].filter((part) => part !== "").join(".");
  throw new InvalidPayloadError(`${path || "body"}: ${issue?.message ?? "invalid"}`);
}

/**
 * Narrows a verified payload to the events we act on; anything else is `ignored`. A payload that plainly meets the
 * schemas (every real delivery) is read by `readWellFormedEvent`; anything else goes through zod, which either
 * accepts it all the same or names the first problem. Zod walked and copied every key of a ~3 KB payload for each
 * delivery, a tenth of the service's CPU per delivery; the check below reads only the fields we use.
 */
export function parseClerkEvent(payload: unknown): ClerkEvent {
  return readWellFormedEvent(payload) ?? parseClerkEventWithSchemas(payload);
}

/** The schemas' verdict alone: the reference `readWellFormedEvent` is held to (src/clerk/events.test.ts). */
export function parseClerkEventWithSchemas(payload: unknown): ClerkEvent {
  const envelope = parseOrThrow(EnvelopeSchema, payload, "");
  switch (envelope.type) {
    case "user.created":
    case "user.updated":
      return { type: envelope.type, user: toClerkUser(parseOrThrow(ClerkUserSchema, envelope.data, "data")) };
    case "user.deleted":
      return { type: "user.deleted", userId: parseOrThrow(DeletedObjectSchema, envelope.data, "data").id };
    default:
      return { type: "ignored", eventType: envelope.type };
  }
}

/**
 * A Clerk `UserJSON` (a webhook's `data`, or a Backend API user's `raw`) to the user we provision: one mapping for
 * every path. Throws `InvalidPayloadError` naming the field (`data.…`).
 */
export function parseClerkUser(data: unknown): ClerkUser {
  return readWellFormedUser(data) ?? toClerkUser(parseOrThrow(ClerkUserSchema, data, "data"));
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
/** `storedText`. */
const isStoredText = (value: unknown): value is string => typeof value === "string" && !value.includes("\u0000");
/** `nullableText`. */
const isNullableText = (value: unknown) => value === undefined || value === null || isStoredText(value);

/**
 * The event when the payload certainly satisfies the schemas above, else `undefined` (never a different answer
 * than zod's: it may only be stricter, and then zod decides). Keep it in step with the schemas.
 */
export function readWellFormedEvent(payload: unknown): ClerkEvent | undefined {
  if (!isRecord(payload) || !isRecord(payload.data)) return undefined;
  const { type, data } = payload;
  if (!isStoredText(type) || type.length === 0) return undefined;
  switch (type) {
    case "user.created":
    case "user.updated": {
      const user = readWellFormedUser(data);
      return user && { type, user };
    }
    case "user.deleted":
      return isStoredText(data.id) && data.id.length > 0 ? { type, userId: data.id } : undefined;
    default:
      return { type: "ignored", eventType: type };
  }
}

function readWellFormedUser(data: unknown): ClerkUser | undefined {
  if (!isRecord(data)) return undefined;
  const { id, email_addresses: addresses, updated_at: updatedAt } = data;
  if (!isStoredText(id) || id.length === 0 || !Array.isArray(addresses)) return undefined;
  for (const address of addresses) {
    if (!isRecord(address) || typeof address.id !== "string" || !isStoredText(address.email_address)) return undefined;
  }
  const texts = [data.primary_email_address_id, data.username, data.first_name, data.last_name, data.image_url];
  if (!texts.every(isNullableText)) return undefined;
  if (typeof updatedAt !== "number" || !Number.isSafeInteger(updatedAt) || updatedAt < 0) return undefined;
  return toClerkUser(data as z.infer<typeof ClerkUserSchema>);
}

function toClerkUser(data: z.infer<typeof ClerkUserSchema>): ClerkUser {
  const primary = data.email_addresses.find((address) => address.id === data.primary_email_address_id);
  return {
    id: data.id,
    primaryEmail: primary ? primary.email_address.trim().toLowerCase() : null,
    username: data.username ?? null,
    firstName: data.first_name ?? null,
    lastName: data.last_name ?? null,
    imageUrl: data.image_url ?? null,
    updatedAt: data.updated_at,
  };
}
