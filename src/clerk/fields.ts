/// <reference lib="es2024.string" />
import { z } from "zod";
import { ServiceError } from "../errors.js";

/**
 * Upper bounds of what Clerk sends, far below what the database can index (a btree entry holds ~2.7 kB): anything
 * longer is not Clerk's and would otherwise fail in the database (SQLSTATE 54000) and be retried for days.
 * Clerk ids are a prefix and a 27-character KSUID (`user_29w83sxmDNGwOuEthce5gg56FcC`, 32 characters); 64 leaves
 * room for longer prefixes (`orgmem_…`) and is the bound for every Clerk id we store.
 */
export const MAX_CLERK_ID_LENGTH = 64;
/** RFC 5321: a path is at most 256 octets including the angle brackets, so an address at most 254. */
export const MAX_EMAIL_LENGTH = 254;
export const MAX_NAME_LENGTH = 256;
export const MAX_URL_LENGTH = 2048;
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
export const clerkId = storedText(MAX_CLERK_ID_LENGTH).min(1);
export const nullableText = (maxLength: number) => storedText(maxLength).nullable().optional();

/** Role keys are `org:<key>` with a short key. */
export const MAX_ROLE_LENGTH = 256;
export const clerkTime = z.number().int().nonnegative();

/** `value` as `schema` says, or `invalid_payload` naming the first offending field (`<prefix>.<path>`). */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, prefix: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = [prefix, ...(issue?.path ?? [])].filter((part) => part !== "").join(".");
  throw new ServiceError("invalid_payload", `${path || "body"}: ${issue?.message ?? "invalid"}`);
}
