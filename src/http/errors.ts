import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ClerkUnavailableError } from "../clerk/backend-api.js";
import { InvalidPayloadError } from "../clerk/events.js";
import { InvalidJsonError, SignatureError } from "../clerk/verify.js";
import { classifyDbError, isUnwritableRow } from "../db/errors.js";
import type { Logger } from "../logger.js";
import { EmailConflictError } from "../provisioning/apply-clerk-event.js";

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
  internal: 500,
  database_unavailable: 503,
  auth_unavailable: 503,
  clerk_unavailable: 503,
} satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof STATUS;

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "AppError";
  }
}

/** Turns any thrown error into our error code and a message safe to show the caller. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof SignatureError) return new AppError(error.kind, error.message);
  if (error instanceof InvalidJsonError) return new AppError("invalid_json", error.message);
  if (error instanceof InvalidPayloadError) return new AppError("invalid_payload", error.message);
  if (error instanceof EmailConflictError) return new AppError("email_conflict", error.message);
  if (error instanceof ClerkUnavailableError) {
    return new AppError("clerk_unavailable", "Clerk is unavailable; retry later");
  }
  // Hono's request validators: a body that is not JSON, or not declared as JSON.
  if (error instanceof HTTPException && error.status === 400) return new AppError("invalid_json", error.message);
  if (error instanceof HTTPException && error.status === 415) {
    return new AppError("unsupported_media_type", "the body must be application/json");
  }
  if (isUnwritableRow(error)) {
    return new AppError("invalid_payload", "a value cannot be stored (too large, or not valid text)");
  }
  if (classifyDbError(error).kind === "unavailable") {
    return new AppError("database_unavailable", "the database is unavailable; retry later");
  }
  return new AppError("internal", "internal error");
}

export function errorResponse(c: Context, error: AppError) {
  return c.json({ error: { code: error.code, message: error.message } }, STATUS[error.code]);
}

export const onError = (logger: Logger) => (error: Error, c: Context) => {
  const appError = toAppError(error);
  if (appError.code === "internal") {
    // The cause's name and code only: a driver's message can quote query parameters (e-mail addresses).
    const { code } = classifyDbError(error) as { code?: string };
    logger.error({ err: { name: error.name, code }, path: c.req.path }, "unhandled error");
  }
  return errorResponse(c, appError);
};
