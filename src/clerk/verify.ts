import { Webhook, WebhookVerificationError } from "svix";
import { InvalidPayloadError, storedText } from "./events.js";

/** Svix ids are `msg_` and a 27-character KSUID; the bound keeps the delivery key far below an index entry's limit. */
export const MAX_SVIX_ID_LENGTH = 200;
const SvixIdSchema = storedText(MAX_SVIX_ID_LENGTH);

export interface VerifiedDelivery {
  svixId: string;
  /** The JSON body, parsed only after its signature matched. */
  payload: unknown;
}

export class SignatureError extends Error {
  constructor(
    readonly kind: "missing_signature" | "invalid_signature",
    message: string,
  ) {
    super(message);
    this.name = "SignatureError";
  }
}

export class InvalidJsonError extends Error {
  constructor() {
    super("body is not valid JSON");
    this.name = "InvalidJsonError";
  }
}

export type SvixHeaders = Record<"svix-id" | "svix-timestamp" | "svix-signature", string | undefined>;

/**
 * Verifies the raw body with svix's own `Webhook.verify` (constant-time comparison, 5-minute tolerance either way,
 * several signatures per header for key rotation) before anything parses it; svix parses the JSON once it matched.
 * `@clerk/backend`'s `verifyWebhook` would drop the svix id we key idempotency on.
 */
export function createVerifier(secret: string) {
  const webhook = new Webhook(secret);
  return function verifyDelivery(rawBody: string, headers: SvixHeaders): VerifiedDelivery {
    const svixId = headers["svix-id"];
    if (!svixId || !headers["svix-timestamp"] || !headers["svix-signature"]) {
      throw new SignatureError("missing_signature", "svix-id, svix-timestamp and svix-signature headers are required");
    }
    let payload: unknown;
    try {
      payload = webhook.verify(rawBody, headers as Record<string, string>);
    } catch (error) {
      if (error instanceof WebhookVerificationError) {
        throw new SignatureError("invalid_signature", `signature rejected: ${error.message}`);
      }
      if (error instanceof SyntaxError) throw new InvalidJsonError();
      throw error;
    }
    // svix answers `undefined` for a correctly signed empty body: not JSON either.
    if (payload === undefined) throw new InvalidJsonError();
    // Checked once signed: the id is then Svix's (or the signer's) word, and a bad one can never be stored.
    const checked = SvixIdSchema.safeParse(svixId);
    if (!checked.success) throw new InvalidPayloadError(`svix-id: ${checked.error.issues[0]?.message ?? "invalid"}`);
    return { svixId, payload };
  };
}

export type VerifyDelivery = ReturnType<typeof createVerifier>;
