import { createPublicKey } from "node:crypto";
import { z } from "zod";

/** What one environment variable's value may be: the parsers and checks `config.ts` builds its schema from. */

/** A value of spaces only (or empty) counts as unset. */
const emptyAsUnset = (value: unknown) => (typeof value === "string" && value.trim() === "" ? undefined : value);
/** A whole number written as digits only: `1e3`, `0x50` or `3000.5` are mistakes, not numbers. */
export const wholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.string().trim().regex(/^\d+$/, "must be a whole number").transform(Number).pipe(z.number().min(min).max(max));
export const optional = <T extends z.ZodType>(schema: T) => z.preprocess(emptyAsUnset, schema.optional());
/** `true`/`false` (also `1`/`0`, `yes`/`no`), nothing else: a typo must not silently mean either. */
export const booleanFlag = z
  .string()
  .trim()
  .toLowerCase()
  .refine((value) => ["true", "false", "1", "0", "yes", "no"].includes(value), "must be true or false")
  .transform((value) => value === "true" || value === "1" || value === "yes");
export const withDefault = <T extends z.ZodType>(schema: T, fallback: z.output<T>) =>
  z.preprocess(emptyAsUnset, schema.default(fallback as never));

/**
 * `CLERK_WEBHOOK_SIGNING_SECRET`: one secret, or several separated by spaces or commas (two Clerk endpoints feeding
 * this service, or a move from one endpoint to another, each with its own secret).
 */
export function splitSigningSecrets(value: string): string[] {
  return [...new Set(value.split(/[\s,]+/).filter(Boolean))];
}

const WEBHOOK_SECRET = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

/** Each secret must be a `whsec_…` one; a bad one is named by its place, never shown. */
export function checkSigningSecrets(secrets: string[], ctx: z.RefinementCtx) {
  secrets.forEach((secret, i) => {
    if (WEBHOOK_SECRET.test(secret)) return;
    const which = secrets.length === 1 ? "" : ` (secret ${i + 1} of ${secrets.length})`;
    ctx.addIssue({ code: "custom", message: `must be the endpoint's whsec_… secret${which}` });
  });
}

/** `@clerk/backend` reads a PEM by stripping the SPKI prefix of an RSA 2048 key: anything else fails every token. */
export function isClerkJwtKey(pem: string): boolean {
  if (!pem.startsWith("-----BEGIN PUBLIC KEY-----")) return false;
  try {
    const key = createPublicKey(pem);
    return key.asymmetricKeyType === "rsa" && key.asymmetricKeyDetails?.modulusLength === 2048;
  } catch {
    return false;
  }
}

/** Clerk compares a token's `azp` with each entry as a string: only a bare origin can ever match. */
export function isOrigin(value: string): boolean {
  try {
    return new URL(value).origin === value;
  } catch {
    return false;
  }
}
