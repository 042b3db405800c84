/// <reference lib="es2024.string" />
import { z } from "zod";

/**
 * Upper bounds of what Clerk sends, far below what the database can index (a btree entry holds ~2.7 kB): anything
 * longer is not Clerk's and would otherwise fail in the database (SQLSTATE 54000) and be retried for days.
 * Clerk ids are a prefix and a 27-character KSUID (`user_29w83sxmDNGwOuEthce5gg56FcC`, 32 characters); 64 leaves
 * room for longer prefixes (`orgmem_…`) and is the bound for every Clerk id we store.
 */
export const MAX_CLERK_ID_LENGTH = 64;
/** RFC 5321: a path is at most 256 octets including the angle brackets, so an address at most 254. */
export const MAX_EMAIL_LENGTH = 254;
const MAX_NAME_LENGTH = 256;
const MAX_URL_LENGTH = 2048;
export const MAX_EVENT_TYPE_LENGTH = 100;

/**
 * Text we store. PostgreSQL `text` cannot hold U+0000, and a lone UTF-16 surrogate is stored as U+FFFD, so two
 * different ids would become one: such a payload is invalid (422 naming the field) rather than a 500 or a merge.
 */
export const storedText = (maxLength: number) =>
  z
    .string()
    .max(maxLength, `must be at most ${maxLength} characters`)
    .refine(
      (value) => !value.includes("\u0000") && value.isWellFormed(),
      "must be valid text (no NUL, no lone surrogates)",
    );
const clerkId = storedText(MAX_CLERK_ID_LENGTH).min(1);
const nullableText = (maxLength: number) => storedText(maxLength).nullable().optional();

// z.object, not z.looseObject: unknown keys are allowed (Clerk adds fields) and left out of the result, which
// spares copying every key of a ~3 KB payload on each delivery.
const ClerkEmailAddressSchema = z.object({
  id: storedText(MAX_CLERK_ID_LENGTH),
  email_address: storedText(MAX_EMAIL_LENGTH),
});

/** The fields of Clerk's `UserJSON` we use. */
const ClerkUserSchema = z.object({
  id: clerkId,
  email_addresses: z.array(ClerkEmailAddressSchema),
  primary_email_address_id: nullableText(MAX_CLERK_ID_LENGTH),
  username: nullableText(MAX_NAME_LENGTH),
  first_name: nullableText(MAX_NAME_LENGTH),
  last_name: nullableText(MAX_NAME_LENGTH),
  image_url: nullableText(MAX_URL_LENGTH),
  updated_at: z.number().int().nonnegative(),
});

const DeletedObjectSchema = z.object({ id: clerkId });

const EnvelopeSchema = z.object({ type: storedText(MAX_EVENT_TYPE_LENGTH).min(1), data: z.object({}) });

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

/** Narrows a verified payload to the events we act on; anything else is `ignored`. */
export function parseClerkEvent(payload: unknown): ClerkEvent {
  const { type } = parseOrThrow(EnvelopeSchema, payload, "");
  // The envelope is valid, so `data` is an object; the schemas below read it from the payload itself.
  const data = (payload as { data: unknown }).data;
  switch (type) {
    case "user.created":
    case "user.updated":
      return { type, user: parseClerkUser(data) };
    case "user.deleted":
      return { type, userId: parseOrThrow(DeletedObjectSchema, data, "data").id };
    default:
      return { type: "ignored", eventType: type };
  }
}

/**
 * A Clerk `UserJSON` (a webhook's `data`, or a Backend API user's `raw`) to the user we provision: one mapping for
 * every path. Throws `InvalidPayloadError` naming the field (`data.…`).
 */
export function parseClerkUser(data: unknown): ClerkUser {
  return toClerkUser(parseOrThrow(ClerkUserSchema, data, "data"));
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
