import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { parseClerkEvent } from "../clerk/events.js";
import type { VerifyDelivery } from "../clerk/verify.js";
import type { Db } from "../db/types.js";
import type { Logger } from "../logger.js";
import { applyClerkEvent } from "../provisioning/apply-clerk-event.js";
import { AppError, type ErrorCode, toAppError } from "./errors.js";

export const MAX_BODY_BYTES = 1024 * 1024;

export interface WebhookDeps {
  db: Db;
  verifyDelivery: VerifyDelivery;
  logger: Logger;
}

/** How a rejected delivery is counted in logs (and metrics). */
function rejectedOutcome(code: ErrorCode): string {
  if (code === "database_unavailable") return "unavailable";
  if (code === "email_conflict") return "conflict";
  if (code === "internal") return "failed";
  return "invalid";
}

export function clerkWebhookRoutes({ db, verifyDelivery, logger }: WebhookDeps) {
  return new Hono().post(
    "/",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new AppError("payload_too_large", `body exceeds ${MAX_BODY_BYTES} bytes`);
      },
    }),
    async (c) => {
      const started = performance.now();
      let svixId: string | undefined; // logged only once verified: before that it is anyone's text
      let type: string | undefined;
      let userId: string | undefined;
      try {
        const delivery = verifyDelivery(await c.req.text(), {
          "svix-id": c.req.header("svix-id"),
          "svix-timestamp": c.req.header("svix-timestamp"),
          "svix-signature": c.req.header("svix-signature"),
        });
        svixId = delivery.svixId;
        const event = parseClerkEvent(delivery.payload);
        type = event.type === "ignored" ? event.eventType : event.type;
        userId = event.type === "user.deleted" ? event.userId : event.type === "ignored" ? undefined : event.user.id;
        const outcome = await applyClerkEvent(db, { svixId, receivedAt: new Date(), event });
        logger.info({ svixId, type, userId, outcome, ms: elapsed(started) }, "clerk delivery");
        return c.json({ received: true, outcome });
      } catch (error) {
        const appError = toAppError(error);
        logger.warn(
          { svixId, type, userId, outcome: rejectedOutcome(appError.code), code: appError.code, ms: elapsed(started) },
          "clerk delivery rejected",
        );
        throw error;
      }
    },
  );
}

const elapsed = (since: number) => Math.round((performance.now() - since) * 100) / 100;
