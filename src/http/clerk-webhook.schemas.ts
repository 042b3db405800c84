import { createRoute, z } from "@hono/zod-openapi";
import { STORED_OUTCOMES } from "../outcome.js";
import { ErrorSchema, json } from "./openapi.js";

const svixHeader = (name: string, description: string, example: string) => ({
  name,
  in: "header" as const,
  required: true,
  description,
  schema: { type: "string" as const, example },
});

/**
 * The body as the document shows it: a plain OpenAPI schema, not a zod one, so that no validator parses the body
 * before its signature is verified (the route reads the raw bytes; `src/clerk/events.ts` validates afterwards).
 */
const ClerkEventEnvelope = {
  type: "object" as const,
  description:
    "A Clerk webhook event. `user.*`, `organization.*`, `organizationMembership.*`, `organizationInvitation.*`, " +
    "`role.*`, `permission.*`, and Clerk Billing's `subscription.*` and `subscriptionItem.*` are applied; any other type " +
    "is recorded and changes nothing. Unknown keys are allowed; the fields used are validated once the signature " +
    "matched (422 naming the field).",
  required: ["type", "data"],
  properties: {
    type: { type: "string" as const, example: "user.created" },
    object: { type: "string" as const, example: "event" },
    timestamp: { type: "integer" as const, description: "milliseconds since the epoch", example: 1654012591835 },
    instance_id: { type: "string" as const, example: "ins_123" },
    data: {
      type: "object" as const,
      description:
        "Clerk's object: a UserJSON, an OrganizationJSON, an OrganizationMembershipJSON, a subscription item or " +
        "a subscription with its items, or for a `.deleted` event `{id, object, deleted: true}`",
      additionalProperties: true,
    },
    event_attributes: { type: "object" as const, additionalProperties: true },
  },
  additionalProperties: true,
};

export const DeliveryAnswerSchema = z
  .object({
    received: z.literal(true),
    outcome: z.enum([...STORED_OUTCOMES, "duplicate"]).openapi({
      description:
        "`provisioned` (written), `stale` (what is stored is as new or newer, or the object was deleted), " +
        "`deleted`, `skipped` (a user with no usable e-mail: recorded with the reason), `ignored` (an event type " +
        "that changes nothing), `duplicate` (this svix-id was seen before: nothing done again); `failed` is only " +
        "ever recorded by `npm run sync`",
      example: "provisioned",
    }),
  })
  .openapi("DeliveryAnswer");

export const receiveClerkWebhook = createRoute({
  method: "post",
  path: "/",
  operationId: "receiveClerkWebhook",
  summary: "A Clerk webhook delivery, sent by Svix",
  description:
    "The endpoint to give the Clerk Dashboard. The signature is verified on the raw body (svix, 5 minutes' " +
    "tolerance) before anything parses it; each event has exactly one effect however often Svix delivers it.",
  parameters: [
    svixHeader("svix-id", "The delivery id: the idempotency key", "msg_2Lh9KRb6pIG6HyDQ8y2Q9cHgKnc"),
    svixHeader("svix-timestamp", "Seconds since the epoch", "1654012591"),
    svixHeader(
      "svix-signature",
      "`v1,<base64>` signatures, space-separated",
      "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    ),
  ],
  request: { body: { required: true, content: { "application/json": { schema: ClerkEventEnvelope } } } },
  responses: {
    200: json(DeliveryAnswerSchema, "Received; `outcome` says what it came to"),
    400: json(ErrorSchema, "`missing_signature` (a svix header missing), `invalid_json`, `client_closed`"),
    401: json(ErrorSchema, "`invalid_signature`: wrong signature, or a timestamp more than 5 minutes off"),
    409: json(
      ErrorSchema,
      "`email_conflict`: the e-mail is still held by another Clerk user; nothing written, Svix retries",
    ),
    413: json(ErrorSchema, "`payload_too_large`: the body is over 1 MiB"),
    422: json(
      ErrorSchema,
      "`invalid_payload` (the message names the field) or `constraint_violation`: nothing written",
    ),
    500: json(ErrorSchema, "`internal`: a bug (or a database schema behind the code), never bad input"),
    503: json(ErrorSchema, "`database_unavailable`: nothing written; Svix retries"),
  },
});
