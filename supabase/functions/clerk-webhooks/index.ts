// Supabase Edge Function (Deno): the service's own app (createApp) serving Clerk's webhook and /health, on
// postgres.js through Supabase's transaction pooler. Deploy: supabase/README.md.
import { drizzle } from "drizzle-orm/postgres-js";
import { Hono } from "hono";
import postgres from "postgres";
import { createApp } from "../../../src/app";
import { limitEachTransaction } from "../../../src/db/query";
import * as schema from "../../../src/db/schema";
import { createLogger } from "../../../src/logger";

/** Supabase serves the function at /functions/v1/clerk-webhooks; the path it hands over starts with its name. */
const BASE_PATH = "/clerk-webhooks";

/** Function secrets (`supabase secrets set`): names starting with SUPABASE_ are reserved for Supabase's own. */
function secret(name: string): string {
  const value = Deno.env.get(name)?.trim();
  if (!value) throw new Error(`${name} is not set: supabase secrets set ${name}=…`);
  return value;
}

// Once per isolate: the requests an isolate serves share this client and its few connections.
const client = postgres(secret("CLERK_PROVISIONER_DATABASE_URL"), {
  // The transaction pooler (port 6543): no named prepared statement survives a transaction, and a query pipelined
  // behind a busy one can hang or get another query's answer (porsager/postgres#970).
  prepare: false,
  ...{ max_pipeline: 1 }, // (an option postgres.js's types leave out)
  max: 3,
  idle_timeout: 20,
  connect_timeout: 5,
  onnotice: () => {},
  connection: { application_name: "clerk-provisioner" },
});

// Through the pooler no session setting holds: each transaction sets its own limits (the service's default 5 s).
limitEachTransaction(client, 5_000);

const app = createApp({
  db: drizzle({ client, schema }),
  webhookSigningSecret: secret("CLERK_WEBHOOK_SIGNING_SECRET"),
  logger: createLogger(Deno.env.get("LOG_LEVEL") ?? "info"),
});

const served = new Hono().basePath(BASE_PATH).route("/", app);

// PORT only for serving it locally (tests); on Supabase the runtime decides.
const port = Deno.env.get("PORT");
if (port) Deno.serve({ port: Number(port), hostname: "127.0.0.1" }, served.fetch);
else Deno.serve(served.fetch);
