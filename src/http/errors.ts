import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { toDatabaseError } from "../db/errors.js";
import { type ErrorCode, ServiceError } from "../errors.js";
import type { Logger } from "../logger.js";

/** The HTTP answer of each error code (the README's tables); the body says the code and a safe message. */
const STATUS = {
  missing_signature: 400,
  invalid_json: 400,
  invalid_signature: 401,
  unauthenticated: 401,
  not_found: 404,
  user_deleted: 404,
  email_conflict: 409,
  user_not_provisionable: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  invalid_payload: 422,
  invalid_request: 422,
  constraint_violation: 422,
  internal: 500,
  usage: 500,
  config: 500,
  not_replayable: 500,
  sync_busy: 503,
  lock_lost: 503,
  interrupted: 503,
  database_unavailable: 503,
  // The operator migrates; until then Svix must keep the delivery (a 503, retried), not count it as our bug.
  schema_outdated: 503,
  auth_unavailable: 503,
  clerk_unavailable: 503,
  clerk_unauthorized: 503,
} satisfies Record<ErrorCode, ContentfulStatusCode>;

/** The caller's view of a code whose message is ours, not theirs (what the database or Clerk said stays in logs). */
const PUBLIC_MESSAGE: Partial<Record<ErrorCode, string>> = {
  database_unavailable: "the database is unavailable; retry later",
  clerk_unavailable: "Clerk is unavailable; retry later",
  clerk_unauthorized: "Clerk is unavailable; retry later",
  constraint_violation: "the payload cannot be stored: it breaks a rule of the database",
  internal: "internal error",
  schema_outdated: "the database is not migrated for this version of the service; retry later",
};

/** Any thrown error as a ServiceError: hono's own validation errors by their status, the rest by the database's. */
export function toServiceError(error: unknown): ServiceError {
  if (error instanceof ServiceError) return error;
  // Hono's request validators: a body that is not JSON, or not declared as JSON.
  if (error instanceof HTTPException && error.status === 400) return new ServiceError("invalid_json", error.message);
  if (error instanceof HTTPException && error.status === 415) {
    return new ServiceError("unsupported_media_type", "the body must be application/json");
  }
  return toDatabaseError(error);
}

export function errorResponse(c: Context, error: ServiceError) {
  const message = PUBLIC_MESSAGE[error.code] ?? error.message;
  return c.json({ error: { code: error.code, message } }, STATUS[error.code]);
}

export const onError = (logger: Logger) => (error: Error, c: Context) => {
  const serviceError = toServiceError(error);
  // Both need someone: a bug, or migrations to run (GET /health names them).
  if (STATUS[serviceError.code] === 500 || serviceError.code === "schema_outdated") {
    // The cause's name and code only: a driver's message can quote query parameters (e-mail addresses).
    logger.error(
      { err: { name: error.name, code: serviceError.detail ?? serviceError.code }, path: c.req.path },
      "unhandled error",
    );
  }
  return errorResponse(c, serviceError);
};
