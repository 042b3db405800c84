import { Hono } from "hono";
import { createVerifier } from "./clerk/verify.js";
import type { Db } from "./db/types.js";
import { clerkWebhookRoutes } from "./http/clerk-webhook.js";
import { AppError, errorResponse, onError } from "./http/errors.js";
import { healthRoutes } from "./http/health.js";
import type { Logger } from "./logger.js";

export interface AppDeps {
  db: Db;
  webhookSigningSecret: string;
  logger: Logger;
}

/** The HTTP app, built from explicit dependencies: it reads no env and never listens. */
export function createApp({ db, webhookSigningSecret, logger }: AppDeps) {
  const verifyDelivery = createVerifier(webhookSigningSecret);
  return new Hono()
    .onError(onError(logger))
    .notFound((c) => errorResponse(c, new AppError("not_found", `no route for ${c.req.method} ${c.req.path}`)))
    .route("/health", healthRoutes(db))
    .route("/webhooks/clerk", clerkWebhookRoutes({ db, verifyDelivery, logger }));
}
