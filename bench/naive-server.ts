import { serve } from "@hono/node-server";
import { createApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { openDatabase } from "../src/db/client.js";
import { createLogger } from "../src/logger.js";
import { applyNaively } from "./naive-apply.js";

/** The service as `src/main.ts` wires it, with the naive comparator plugged in (benchmark only). */
const config = loadConfig();
if (!config.webhookSigningSecret) throw new Error("CLERK_WEBHOOK_SIGNING_SECRET is required");
const logger = createLogger(config.logLevel);
const database = await openDatabase(config.database);
const app = createApp({
  db: database.db,
  webhookSigningSecret: config.webhookSigningSecret,
  logger,
  applyEvent: applyNaively,
});
serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) =>
  logger.info({ port: info.port, database: database.kind, apply: "naive" }, "listening"),
);
process.on("SIGTERM", () => database.close().finally(() => process.exit(0)));
