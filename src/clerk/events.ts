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

/** Narrows a verified payload to the events we act on; anything else is `ignored`. */
export function parseClerkEvent(payload: unknown): ClerkEvent {
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
