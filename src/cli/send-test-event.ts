import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { Webhook } from "svix";
import { loadConfig } from "../config.js";
import { resolveWebhookSecret } from "../webhook-secret.js";

const TYPES = ["user.created", "user.updated", "user.deleted"] as const;
type SampleType = (typeof TYPES)[number];

const USAGE = `usage: npm run send-event -- <${TYPES.join("|")}> [--user-id ID] [--email E] [--url URL]`;

/** A Clerk event in the shape of the dashboard's "Send Example" payloads. */
export function sampleEvent(type: SampleType, userId: string, email: string) {
  const now = Date.now();
  const http_request = { client_ip: "127.0.0.1", user_agent: "clerk-provisioner send-event" };
  if (type === "user.deleted") {
    return {
      data: { deleted: true, id: userId, object: "user" },
      event_attributes: { http_request },
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
    object: "event",
    timestamp: now,
    type,
  };
}

async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { "user-id": { type: "string" }, email: { type: "string" }, url: { type: "string" } },
  });
  const type = positionals[0] as SampleType | undefined;
  if (!type || !TYPES.includes(type)) {
    console.error(USAGE);
    process.exit(2);
  }
  const config = loadConfig();
  const { secret } = resolveWebhookSecret(config);
  const userId = values["user-id"] ?? `user_${randomBytes(12).toString("hex")}`;
  const email = values.email ?? `${userId.toLowerCase()}@example.com`;
  const url = values.url ?? `http://127.0.0.1:${config.port}/webhooks/clerk`;
  const body = JSON.stringify(sampleEvent(type, userId, email));
  const svixId = `msg_${randomBytes(12).toString("hex")}`;
  const now = new Date();
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "svix-id": svixId,
      "svix-timestamp": String(Math.floor(now.getTime() / 1000)),
      "svix-signature": new Webhook(secret).sign(svixId, now, body),
    },
    body,
  });
  console.log(`${type} ${userId} (svix-id ${svixId}) → ${response.status} ${await response.text()}`);
  process.exit(response.ok ? 0 : 1);
}

main().catch((error: unknown) => {
  console.error(`send-event failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
