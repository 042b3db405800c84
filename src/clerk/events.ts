import { z } from "zod";
import { ServiceError } from "../errors.js";

/** Text we store: PostgreSQL `text` cannot hold U+0000, so such a payload is invalid rather than a 500. */
const storedText = z.string().refine((value) => !value.includes("\u0000"), "must not contain NUL (U+0000)");
const nullableText = storedText.nullable().optional();

// z.object, not z.looseObject: unknown keys are allowed (Clerk adds fields) and left out of the result, which
// spares copying every key of a ~3 KB payload on each delivery.
const ClerkEmailAddressSchema = z.object({ id: z.string(), email_address: storedText });

/** The fields of Clerk's `UserJSON` we use. */
const ClerkUserSchema = z.object({
  id: storedText.min(1),
  email_addresses: z.array(ClerkEmailAddressSchema),
  primary_email_address_id: nullableText,
  username: nullableText,
  first_name: nullableText,
  last_name: nullableText,
  image_url: nullableText,
  updated_at: z.number().int().nonnegative(),
});

const DeletedObjectSchema = z.object({ id: storedText.min(1) });

const EnvelopeSchema = z.object({ type: storedText.min(1), data: z.object({}) });

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

function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, prefix: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = [prefix, ...(issue?.path ?? [])].filter((part) => part !== "").join(".");
  throw new ServiceError("invalid_payload", `${path || "body"}: ${issue?.message ?? "invalid"}`);
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
 * every path. Throws `invalid_payload` naming the field (`data.…`).
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
