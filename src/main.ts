import type { Server } from "node:http";
import { setTimeout as delay } from "node:timers/promises";
import { serve } from "@hono/node-server";
import { createApp } from "./app.js";
import { ConfigError, loadConfig } from "./config.js";
import { openDatabase } from "./db/client.js";
import { describeError, isStrayDatabaseError } from "./db/errors.js";
import { createLogger, type Logger } from "./logger.js";
import { createMetrics } from "./metrics.js";
import { scheduleReconcile } from "./sync/schedule.js";
import { resolveWebhookSecret } from "./webhook-secret.js";

const SHUTDOWN_DEADLINE_MS = 8_000;

type Config = ReturnType<typeof loadConfig>;

async function main() {
  const config = configOrExit();
  const logger = createLogger(config.logLevel);
  survivingStrayDatabaseErrors(logger);

  const webhookSecret = resolveWebhookSecret(config);
  const database = await openDatabase(config.database);
  const metrics = createMetrics({ poolMax: config.database.kind === "postgres" ? config.database.poolMax : 1 });
  const app = createApp({
    db: database.db,
    webhookSigningSecret: webhookSecret.secret,
    logger,
    clerk: config.clerk,
    metrics,
  });
  const reconcile = scheduleReconcile({
    db: database.db,
    logger,
    metrics: metrics.sync,
    clerk: config.clerk,
    sync: config.sync,
  });
  const server = listen(config, app.fetch, (port) => {
    logger.info({ port, database: database.kind }, "listening");
    if (webhookSecret.source === "dev-file") {
      logger.info(
        { secretFile: webhookSecret.path },
        "no CLERK_WEBHOOK_SIGNING_SECRET: using a development secret; send a signed test event with `npm run send-event -- user.created`",
      );
    }
  });
  stopOnSignals(server, logger, {
    interrupt: async () => reconcile?.stop(),
    closeDatabase: () => database.close(),
  });
}

function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`clerk-provisioner cannot start: ${error.problems.join("\n  ")}\n`);
    process.exit(1);
  }
}

function survivingStrayDatabaseErrors(logger: Logger) {
  // postgres.js can throw from its own timers and socket callbacks when the server drops connections
  // (porsager/postgres#1154, #1208; patches/ fixes the paths we know). No request awaits such an error: the one it
  // belonged to got its 503 (every database call has a deadline), so keep serving. Anything else is a bug: exit.
  const onStray = (kind: "uncaughtException" | "unhandledRejection") => (error: unknown) => {
    const err = describeError(error);
    if (isStrayDatabaseError(error)) {
      logger.warn({ err, kind }, "stray database connection error ignored");
      return;
    }
    logger.fatal({ err, kind }, "uncaught exception");
    process.exit(1);
  };
  process.on("uncaughtException", onStray("uncaughtException"));
  process.on("unhandledRejection", onStray("unhandledRejection"));
}

function listen(
  config: Config,
  fetch: Parameters<typeof serve>[0]["fetch"],
  onListening: (port: number) => void,
): Server {
  const { http } = config;
  const serverOptions = {
    headersTimeout: http.headersTimeoutMs,
    requestTimeout: http.requestTimeoutMs,
    keepAliveTimeout: http.keepAliveTimeoutMs,
    // How often node looks for requests past their timeouts (default 30 s): the limits hold to within a second.
    connectionsCheckingInterval: Math.min(1_000, http.headersTimeoutMs),
  };
  const server = serve({ fetch, port: config.port, hostname: config.host, serverOptions }, (info) =>
    onListening(info.port),
  ) as Server;
  // Past this many open sockets new ones are refused at once, so that a flood of idle connections cannot take the
  // file descriptors that deliveries, /health and the database pool need.
  server.maxConnections = http.maxConnections;
  return server;
}

/**
 * SIGTERM/SIGINT: stop accepting and interrupt the scheduled reconcile (after the page it is applying; the next run
 * resumes it), let in-flight requests finish (closed at the deadline), close the pool, exit 0.
 */
function stopOnSignals(
  server: Server,
  logger: Logger,
  { interrupt, closeDatabase }: { interrupt: () => Promise<void>; closeDatabase: () => Promise<void> },
) {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    const interrupted = Promise.race([interrupt().catch(() => {}), delay(SHUTDOWN_DEADLINE_MS)]);
    const force = setTimeout(() => {
      logger.warn("in-flight requests still open at the deadline: closing them");
      server.closeAllConnections();
    }, SHUTDOWN_DEADLINE_MS);
    force.unref();
    server.close(async () => {
      clearTimeout(force);
      await interrupted;
      await closeDatabase().catch(() => {});
      logger.info("stopped");
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((error: unknown) => {
  process.stderr.write(
    `clerk-provisioner failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
