import { randomBytes } from "node:crypto";
import { Webhook } from "svix";
import { loadConfig } from "../config.js";
import { splitSigningSecrets } from "../env-values.js";
import { resolveWebhookSecret } from "../webhook-secret.js";
import { command, EXIT, parseCliArgs, usageError } from "./cli.js";
import { BILLING_TYPES, type BillingSampleType, sampleBillingEvent } from "./sample-billing-events.js";
import {
  newClerkId,
  ORGANIZATION_TYPES,
  type OrganizationSampleType,
  sampleOrganizationEvent,
} from "./sample-organization-events.js";
import { sampleTeamEvent, TEAM_TYPES, type TeamSampleType } from "./sample-team-events.js";

const USER_TYPES = ["user.created", "user.updated", "user.deleted"] as const;
type SampleType = (typeof USER_TYPES)[number];
const TYPES: readonly string[] = [...USER_TYPES, ...ORGANIZATION_TYPES, ...TEAM_TYPES, ...BILLING_TYPES];

const USAGE = `usage: npm run send-event -- <type> [--user-id ID] [--email E] [--org-id ID] [--membership-id ID]
                              [--role ROLE] [--id ID] [--permissions KEYS] [--item-id ID] [--plan SLUG] [--url URL]

  type: ${TYPES.join(", ")}

Signs a sample Clerk event (the shape of the dashboard's "Send Example") with CLERK_WEBHOOK_SIGNING_SECRET, or the
development secret npm start made, posts it to the running service, and prints the answer.

  --user-id ID   the Clerk user id (default: a new random user_…)
  --email E      the primary e-mail address (default: <user id>@example.com)
  --org-id ID    the Clerk organization id (default: a new random org_…)
  --membership-id ID   the membership id (default: a new random orgmem_…)
  --role ROLE    the membership's or invitation's role, or the role's key (default: org:member)
  --id ID        the invitation's, role's or permission's id (default: a new random one)
  --permissions KEYS   comma-separated: the role's permission keys, or the permission's key
                 (default: org:example:read)
  --item-id ID   a billing event's subscription item id (default: a new random csub_item_…)
  --plan SLUG    a billing event's plan slug (default: pro); its payer is --org-id when given, else --user-id

  Billing, for one payer: an upgrade is the old plan's item .ended and the new one's .active; a cancel is the paid
  item .canceled (kept until its period ends) and the free one .upcoming; the period's end is the paid item .ended
  and the free one .active. Each event is stamped now, so later sends are newer.
  --url URL      the webhook endpoint (default: http://127.0.0.1:$PORT/webhooks/clerk)

Exit codes: 0 the service answered 2xx · 1 it answered otherwise, or could not be reached · 2 bad usage or configuration.`;

/** A Clerk event in the shape of the dashboard's "Send Example" payloads. */
export function sampleEvent(type: SampleType, userId: string, email: string) {
  const now = Date.now();
  const http_request = { client_ip: "127.0.0.1", user_agent: "clerk-provisioner send-event" };
  if (type === "user.deleted") {
    return {
      data: { deleted: true, id: userId, object: "user" },
      event_attributes: { http_request },
      instance_id: "ins_send_event",
      object: "event",
      timestamp: now,
      type,
    };
  }
  const emailId = `idn_${randomBytes(12).toString("hex")}`;
  return {
    data: {
      id: userId,
      object: "user",
      created_at: now,
      updated_at: now,
      email_addresses: [
        {
          email_address: email,
          id: emailId,
          linked_to: [],
          object: "email_address",
          verification: { status: "verified", strategy: "email_code" },
        },
      ],
      primary_email_address_id: emailId,
      external_accounts: [],
      external_id: null,
      first_name: "Example",
      last_name: "User",
      image_url: "https://img.clerk.com/xxxxxx",
      username: null,
      password_enabled: true,
      phone_numbers: [],
      primary_phone_number_id: null,
      public_metadata: {},
      private_metadata: {},
      unsafe_metadata: {},
      two_factor_enabled: false,
      web3_wallets: [],
      last_sign_in_at: null,
    },
    event_attributes: { http_request },
    instance_id: "ins_send_event",
    object: "event",
    timestamp: now,
    type,
  };
}

/** Svix counts an answer slower than 15 s as a failed attempt; so do we. */
const TIMEOUT_MS = 15_000;

/** Why a request got no answer, from fetch's `cause` (`ECONNREFUSED`, …). */
function unreachable(url: string, error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (error instanceof Error && error.name === "TimeoutError")
    return `no answer from ${url} within ${TIMEOUT_MS / 1000} s`;
  const code =
    typeof cause?.code === "string"
      ? cause.code
      : typeof cause?.message === "string"
        ? cause.message
        : error instanceof Error
          ? error.message
          : String(error);
  return `could not reach ${url} (${code}): is the service running (npm start), and on this --url / PORT?`;
}

/**
 * POSTs `body` as Svix delivers it, under `svixId`: signed by the svix library with each of `secrets` (one signature
 * each in the header, as Svix sends during a key rotation), so that a service with any of them accepts it.
 */
function postSigned(url: string, secrets: string, svixId: string, body: string): Promise<Response> {
  const now = new Date();
  const signatures = splitSigningSecrets(secrets).map((secret) => new Webhook(secret).sign(svixId, now, body));
  return fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "svix-id": svixId,
      "svix-timestamp": String(Math.floor(now.getTime() / 1000)),
      "svix-signature": signatures.join(" "),
    },
    body,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
}

type SendEventValues = Partial<
  Record<"email" | "org-id" | "membership-id" | "role" | "id" | "permissions" | "item-id" | "plan", string>
>;

/** The sample event of `type` for `userId`, with the ids and values the options give (new random ids otherwise). */
function sampleFor(type: string, userId: string, values: SendEventValues) {
  const email = values.email ?? `${userId.toLowerCase()}@example.com`;
  const organizationId = values["org-id"] ?? newClerkId("org");
  const role = values.role ?? "org:member";
  if ((BILLING_TYPES as readonly string[]).includes(type)) {
    return sampleBillingEvent(type as BillingSampleType, {
      userId,
      organizationId: values["org-id"],
      itemId: values["item-id"] ?? newClerkId("csub_item"),
      plan: values.plan ?? "pro",
    });
  }
  if ((ORGANIZATION_TYPES as readonly string[]).includes(type)) {
    const membershipId = values["membership-id"] ?? newClerkId("orgmem");
    return sampleOrganizationEvent(type as OrganizationSampleType, { organizationId, userId, membershipId, role });
  }
  if ((TEAM_TYPES as readonly string[]).includes(type)) {
    return sampleTeamEvent(type as TeamSampleType, {
      organizationId,
      userId,
      email,
      role,
      objectId: values.id,
      permissions: (values.permissions ?? "org:example:read").split(",").filter(Boolean),
    });
  }
  return sampleEvent(type as SampleType, userId, email);
}

export const run = command("send-event", async (argv, io) => {
  const { positionals, values } = parseCliArgs({
    args: argv,
    allowPositionals: true,
    options: {
      "user-id": { type: "string" },
      email: { type: "string" },
      "org-id": { type: "string" },
      "membership-id": { type: "string" },
      role: { type: "string" },
      id: { type: "string" },
      permissions: { type: "string" },
      "item-id": { type: "string" },
      plan: { type: "string" },
      url: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const type = positionals[0];
  if (!type || !TYPES.includes(type) || positionals.length > 1) throw usageError(USAGE);
  const config = loadConfig(io.env);
  let secret: string;
  try {
    secret = resolveWebhookSecret(config).secret;
  } catch (error) {
    throw usageError(error instanceof Error ? error.message : String(error));
  }
  const userId = values["user-id"] ?? `user_${randomBytes(12).toString("hex")}`;
  const url = values.url ?? `http://127.0.0.1:${config.port}/webhooks/clerk`;
  const event = sampleFor(type, userId, values);
  const svixId = `msg_${randomBytes(12).toString("hex")}`;
  let response: Response;
  try {
    response = await postSigned(url, secret, svixId, JSON.stringify(event));
  } catch (error) {
    io.stderr.write(`send-event: ${unreachable(url, error)}\n`);
    return EXIT.failed;
  }
  io.stdout.write(`${type} ${userId} (svix-id ${svixId}) → ${response.status} ${await response.text()}\n`);
  if (response.status === 401) {
    io.stderr.write(
      "send-event: the service refused the signature: it uses another secret. Give this command the service's CLERK_WEBHOOK_SIGNING_SECRET (or, with the development secret, the same PGLITE_DATA_DIR).\n",
    );
  }
  return response.ok ? EXIT.ok : EXIT.failed;
});
