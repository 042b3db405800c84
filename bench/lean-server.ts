import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { Webhook } from "svix";
import type { ClerkUser } from "../src/clerk/events.js";
import { loadConfig } from "../src/config.js";
import { openDatabase } from "../src/db/client.js";
import { runStatement } from "../src/db/query.js";
import { userKind } from "../src/provisioning/users/kind.js";
import { toUserRow } from "../src/provisioning/users/row.js";

/**
 * The bench's "lean" row: the least a server on the service's stack can do for a delivery — Hono on
 * @hono/node-server, svix's Webhook.verify, then the service's own provisioning statement (prepared, same pool and
 * session settings). No body limit, no validation (the payload's shape is trusted), no logging, no metrics, no
 * error mapping. Benchmark only: never serve this.
 */
interface RawUser {
  id: string;
  email_addresses: { id: string; email_address: string }[];
  primary_email_address_id: string | null;
  username: string | null;
  first_name: string | null;
  last_name: string | null;
  image_url: string | null;
  updated_at: number;
}

const config = loadConfig();
if (!config.webhookSigningSecret) throw new Error("CLERK_WEBHOOK_SIGNING_SECRET is required");
const webhook = new Webhook(config.webhookSigningSecret);
const database = await openDatabase(config.database);

const app = new Hono()
  .get("/health", (c) => c.json({ healthy: true }))
  .post("/webhooks/clerk", async (c) => {
    const headers = {
      "svix-id": c.req.header("svix-id") ?? "",
      "svix-timestamp": c.req.header("svix-timestamp") ?? "",
      "svix-signature": c.req.header("svix-signature") ?? "",
    };
    let payload: { type: string; data: RawUser };
    try {
      payload = webhook.verify(await c.req.text(), headers) as typeof payload;
    } catch {
      return c.json({ error: { code: "invalid_signature" } }, 401);
    }
    const data = payload.data;
    const email = data.email_addresses.find((address) => address.id === data.primary_email_address_id);
    const user: ClerkUser = {
      id: data.id,
      primaryEmail: email?.email_address.toLowerCase() ?? null,
      username: data.username,
      updatedAt: data.updated_at,
      profile: { firstName: data.first_name, lastName: data.last_name, imageUrl: data.image_url },
    };
    const mapped = toUserRow(user);
    if (mapped.kind !== "row") return c.json({ received: true, outcome: "skipped" });
    const statement = userKind.writeStatement(
      [mapped.row],
      [{ deliveryId: headers["svix-id"], eventType: payload.type, receivedAt: new Date() }],
    );
    const rows = await runStatement<{ result: string }>(database.db, statement);
    return c.json({ received: true, outcome: rows[0]?.result ?? "duplicate" });
  });

serve({ fetch: app.fetch, port: config.port, hostname: config.host });
process.on("SIGTERM", () => database.close().finally(() => process.exit(0)));
