import { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { LookupCache } from "../accounts/lookup-cache.js";
import { eventIds, parseClerkEvent } from "../clerk/events.js";
import type { VerifyDelivery } from "../clerk/verify.js";
import type { Db } from "../db/types.js";
import { type ErrorCode, ServiceError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { RejectedOutcome } from "../outcome.js";
import { type ApplyEvent, applyClerkEvent } from "../provisioning/apply-clerk-event.js";
import { receiveClerkWebhook } from "./clerk-webhook.schemas.js";
import { toServiceError } from "./errors.js";

export const MAX_BODY_BYTES = 1024 * 1024;

export interface WebhookDeps {
  db: Db;
  verifyDelivery: VerifyDelivery;
  logger: Logger;
  metrics: Metrics;
  applyEvent?: ApplyEvent;
  /** What /v1/me remembers of a user or an organization; a delivery about it ends it. */
  lookupCache?: LookupCache;
}

/** How a rejected delivery is counted in logs (and metrics). */
function rejectedOutcome(code: ErrorCode): RejectedOutcome {
  if (code === "database_unavailable") return "unavailable";
  if (code === "email_conflict") return "conflict";
  if (code === "internal" || code === "schema_outdated") return "failed";
  return "invalid";
}

const tooLarge = () => {
  throw new ServiceError("payload_too_large", `body exceeds ${MAX_BODY_BYTES} bytes`);
};
const streamedBodyLimit = bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge });

/**
 * 413 past MAX_BODY_BYTES. A declared Content-Length (what Svix sends) is checked from the header alone, so that
 * the body is later read straight from the socket; hono's `bodyLimit` would first build a full web `Request` with a
 * stream for it, the most expensive step of a delivery. A streamed body (no length) goes through `bodyLimit`,
 * which counts while it reads.
 */
const limitBody: MiddlewareHandler = (c, next) => {
  const length = c.req.header("content-length");
  if (length === undefined || c.req.header("transfer-encoding") !== undefined) return streamedBodyLimit(c, next);
  return Number.parseInt(length, 10) > MAX_BODY_BYTES ? tooLarge() : next();
};

/** The caller hung up before its whole body arrived: nobody reads our answer, and it says nothing about us. */
class ClientClosedError extends Error {
  constructor() {
    super("the client closed the connection before sending the whole body");
    this.name = "ClientClosedError";
  }
}

/** The raw body; a hang-up mid-body rejects with node's ECONNRESET `aborted`, told apart by the request's signal. */
async function readBody(request: { text(): Promise<string>; raw: Request }): Promise<string> {
  try {
    return await request.text();
  } catch (error) {
    if (request.raw.signal.aborted) throw new ClientClosedError();
    throw error;
  }
}

export function clerkWebhookRoutes({
  db,
  verifyDelivery,
  logger,
  metrics,
  applyEvent = applyClerkEvent,
  lookupCache,
}: WebhookDeps) {
  return new OpenAPIHono().openapi({ ...receiveClerkWebhook, middleware: [limitBody] as const }, async (c) => {
    const started = performance.now();
    let svixId: string | undefined; // logged only once verified: before that it is anyone's text
    let type: string | undefined;
    let ids: ReturnType<typeof eventIds> = {};
    try {
      const delivery = verifyDelivery(await readBody(c.req), {
        "svix-id": c.req.header("svix-id"),
        "svix-timestamp": c.req.header("svix-timestamp"),
        "svix-signature": c.req.header("svix-signature"),
      });
      svixId = delivery.svixId;
      const verifiedId = svixId;
      const event = parseClerkEvent(delivery.payload);
      type = "eventType" in event ? event.eventType : event.type;
      ids = eventIds(event);
      const outcome = await metrics.trackDatabaseCall(() =>
        applyEvent(db, { deliveryId: verifiedId, receivedAt: new Date(), event }),
      );
      if (ids.userId !== undefined) lookupCache?.forget(ids.userId);
      // An organization event ends every user's answer about it; a membership event, its user's.
      if (ids.organizationId !== undefined) lookupCache?.forgetOrganization(ids.organizationId, ids.userId);
      const ms = elapsed(started);
      metrics.recordDelivery(type, outcome, ms);
      logger.info({ svixId, type, ...ids, outcome, ms }, "clerk delivery");
      return c.json({ received: true as const, outcome }, 200);
    } catch (error) {
      if (error instanceof ClientClosedError) {
        metrics.recordDelivery(undefined, "aborted", undefined);
        logger.warn({ outcome: "aborted", code: "client_closed", ms: elapsed(started) }, "clerk delivery aborted");
        return c.json({ error: { code: "client_closed", message: error.message } }, 400);
      }
      const appError = toServiceError(error);
      const outcome = rejectedOutcome(appError.code);
      const ms = elapsed(started);
      metrics.recordDelivery(type, outcome, type === undefined ? undefined : ms);
      logger.warn({ svixId, type, ...ids, outcome, code: appError.code, ms }, "clerk delivery rejected");
      throw error;
    }
  });
}

const elapsed = (since: number) => Math.round((performance.now() - since) * 100) / 100;
