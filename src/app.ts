import { OpenAPIHono } from "@hono/zod-openapi";
import { createLookupCache } from "./accounts/lookup-cache.js";
import type { ClerkOptions } from "./clerk/session.js";
import { createVerifier } from "./clerk/verify.js";
import { createSchemaGate } from "./db/health.js";
import type { Db } from "./db/types.js";
import { ServiceError } from "./errors.js";
import { clerkWebhookRoutes } from "./http/clerk-webhook.js";
import { errorResponse, onError } from "./http/errors.js";
import { healthRoutes } from "./http/health.js";
import { meRoutes } from "./http/me.js";
import { metricsRoutes } from "./http/metrics.js";
import { OPENAPI_DOCUMENT } from "./http/openapi.js";
import type { Logger } from "./logger.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { type ApplyEvent, applyClerkEvent } from "./provisioning/apply-clerk-event.js";
import { createCoalescer } from "./provisioning/coalesce/coalescer.js";

export interface AppDeps {
  db: Db;
  /** The endpoint's `whsec_…` secret, or several (a list, or separated by spaces or commas): any of them verifies. */
  webhookSigningSecret: string | readonly string[];
  logger: Logger;
  /** What a verified delivery does to the database; `applyClerkEvent` unless a benchmark plugs in a comparator. */
  applyEvent?: ApplyEvent;
  /** Session verification and the Backend API for `/v1/me`; without keys those routes answer 401/503. */
  clerk?: ClerkOptions;
  /** Prometheus metrics served at /metrics; its own registry (sized for PGlite's single connection) by default. */
  metrics?: Metrics;
}

/**
 * The HTTP app, built from explicit dependencies: it reads no env and never listens. Every route is registered with
 * its OpenAPI definition, and `/openapi.json` serves them all.
 */
export function createApp({
  db,
  webhookSigningSecret,
  logger,
  applyEvent,
  clerk = {},
  metrics = createMetrics({ poolMax: 1 }),
}: AppDeps) {
  const verifyDelivery = createVerifier(webhookSigningSecret);
  // Shared by both routes: a webhook for a user or an organization ends what /v1/me remembers of it.
  const lookupCache = createLookupCache({ ttlMs: (clerk.lookupCacheSeconds ?? 60) * 1000 });
  // Shared by both routes too: concurrent deliveries and just-in-time writes of one verb share statements.
  const writer = createCoalescer(db, { observeBatch: metrics.observeBatch });
  const requireMigrated = createSchemaGate(db);
  const applyDelivery: ApplyEvent = applyEvent ?? ((target, delivery) => applyClerkEvent(target, delivery, writer));
  const apply: ApplyEvent = async (target, delivery) => {
    await requireMigrated();
    return applyDelivery(target, delivery);
  };
  return new OpenAPIHono()
    .onError(onError(logger))
    .notFound((c) => errorResponse(c, new ServiceError("not_found", `no route for ${c.req.method} ${c.req.path}`)))
    .route("/health", healthRoutes(db))
    .route(
      "/webhooks/clerk",
      clerkWebhookRoutes({ db, verifyDelivery, logger, metrics, applyEvent: apply, lookupCache }),
    )
    .route("/metrics", metricsRoutes(metrics, db))
    .route("/", meRoutes({ db, clerk, logger, lookupCache, writer, requireMigrated }))
    .doc("/openapi.json", OPENAPI_DOCUMENT);
}
