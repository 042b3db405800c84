import { Webhook, WebhookVerificationError } from "svix";
import { splitSigningSecrets } from "../env-values.js";
import { ServiceError } from "../errors.js";
import { storedText } from "./events.js";

/** Svix ids are `msg_` and a 27-character KSUID; the bound keeps the delivery key far below an index entry's limit. */
export const MAX_SVIX_ID_LENGTH = 200;
const SvixIdSchema = storedText(MAX_SVIX_ID_LENGTH);

export interface VerifiedDelivery {
  svixId: string;
  /** The JSON body, parsed only after its signature matched. */
  payload: unknown;
}

const invalidJson = () => new ServiceError("invalid_json", "body is not valid JSON");

export type SvixHeaders = Record<"svix-id" | "svix-timestamp" | "svix-signature", string | undefined>;

/**
 * The payload as the first of `webhooks` whose secret signed it verifies it. svix checks one secret per `Webhook`
 * (its comparison constant-time); any other error than a rejection (JSON that does not parse) means it matched.
 */
function verifyWithAny(webhooks: readonly Webhook[], rawBody: string, headers: Record<string, string>): unknown {
  let rejection: unknown;
  for (const webhook of webhooks) {
    try {
      return webhook.verify(rawBody, headers);
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      rejection = error;
    }
  }
  throw rejection;
}

/**
 * Verifies the raw body with svix's own `Webhook.verify` (constant-time comparison, 5-minute tolerance either way,
 * several signatures per header for key rotation) before anything parses it; svix parses the JSON once it matched.
 * `secrets`: one, or several separated by spaces or commas (as `CLERK_WEBHOOK_SIGNING_SECRET`), or a list: a
 * delivery signed with any of them is accepted. `@clerk/backend`'s `verifyWebhook` would drop the svix id we key
 * idempotency on.
 */
export function createVerifier(secrets: string | readonly string[]) {
  const webhooks = (typeof secrets === "string" ? splitSigningSecrets(secrets) : secrets).map((s) => new Webhook(s));
  if (webhooks.length === 0) throw new Error("no webhook signing secret");
  return function verifyDelivery(rawBody: string, headers: SvixHeaders): VerifiedDelivery {
    const svixId = headers["svix-id"];
    if (!svixId || !headers["svix-timestamp"] || !headers["svix-signature"]) {
      throw new ServiceError("missing_signature", "svix-id, svix-timestamp and svix-signature headers are required");
    }
    let payload: unknown;
    try {
      payload = verifyWithAny(webhooks, rawBody, headers as Record<string, string>);
    } catch (error) {
      if (error instanceof WebhookVerificationError) {
        throw new ServiceError("invalid_signature", `signature rejected: ${error.message}`);
      }
      if (error instanceof SyntaxError) throw invalidJson();
      throw error;
    }
    // svix answers `undefined` for a correctly signed empty body: not JSON either.
    if (payload === undefined) throw invalidJson();
    // Checked once signed: the id is then Svix's (or the signer's) word, and a bad one can never be stored.
    const checked = SvixIdSchema.safeParse(svixId);
    if (!checked.success) {
      throw new ServiceError("invalid_payload", `svix-id: ${checked.error.issues[0]?.message ?? "invalid"}`);
    }
    return { svixId, payload };
  };
}

export type VerifyDelivery = ReturnType<typeof createVerifier>;
