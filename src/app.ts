import { Hono } from "hono";
import type { ClerkOptions } from "./clerk/session.js";
import { createVerifier } from "./clerk/verify.js";
import type { Db } from "./db/types.js";
import { clerkWebhookRoutes } from "./http/clerk-webhook.js";
import { AppError, errorResponse, onError } from "./http/errors.js";
import { healthRoutes } from "./http/health.js";
import { meRoutes } from "./http/me.js";
import type { Logger } from "./logger.js";
import type { ApplyEvent } from "./provisioning/apply-clerk-event.js";

export interface AppDeps {
  db: Db;
  webhookSigningSecret: string;
  logger: Logger;
  /** What a verified delivery does to the database; `applyClerkEvent` unless a benchmark plugs in a comparator. */
  applyEvent?: ApplyEvent;
  /** Session verification and the Backend API for `/v1/me`; without keys those routes answer 401/503. */
  clerk?: ClerkOptions;
}

/** The HTTP app, built from explicit dependencies: it reads no env and never listens. */
export function createApp({ db, webhookSigningSecret, logger, applyEvent, clerk = {} }: AppDeps) {
  const verifyDelivery = createVerifier(webhookSigningSecret);
  return new Hono()
    .onError(onError(logger))
    .notFound((c) => errorResponse(c, new AppError("not_found", `no route for ${c.req.method} ${c.req.path}`)))
    .route("/health", healthRoutes(db))
    .route("/webhooks/clerk", clerkWebhookRoutes({ db, verifyDelivery, logger, applyEvent }))
    .route("/", meRoutes({ db, clerk, logger }));
}
