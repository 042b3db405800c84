import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import { type Account, type AccountWorkspace, ensureAccount, renameWorkspace } from "../accounts/account.js";
import type { LookupCache } from "../accounts/lookup-cache.js";
import { ensureOrganizations } from "../accounts/organizations.js";
import { createClerkOrganizationFetcher, createClerkUserFetcher } from "../clerk/lookups.js";
import { type ClerkOptions, createSessionVerifier, type Session } from "../clerk/session.js";
import type { Db } from "../db/types.js";
import { isServiceError, ServiceError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { EventWriter } from "../provisioning/coalesce/coalescer.js";
import { MeSchema, RenameWorkspaceSchema, WorkspaceSchema } from "./me.schemas.js";
import { ErrorSchema, json } from "./openapi.js";

export interface MeDeps {
  db: Db;
  clerk: ClerkOptions;
  logger: Logger;
  lookupCache?: LookupCache;
  /** How just-in-time writes reach the database (the app's coalescer); each alone by default. */
  writer?: EventWriter;
  /** 503 `schema_outdated` while a migration is missing (db/health.ts), checked once the session is verified. */
  requireMigrated?: () => Promise<void>;
}

type Env = { Variables: { session: Session } };

/** A workspace name is at most 100 characters: 64 KiB is plenty for any JSON carrying one. */
export const MAX_ME_BODY_BYTES = 64 * 1024;

/** 413 from the Content-Length alone, or as soon as a streamed body passes the limit: never buffered whole. */
const limitBody = bodyLimit({
  maxSize: MAX_ME_BODY_BYTES,
  onError: () => {
    throw new ServiceError("payload_too_large", `body exceeds ${MAX_ME_BODY_BYTES} bytes`);
  },
});

const errors = {
  401: json(ErrorSchema, "Missing, expired or invalid Clerk session token"),
  404: json(ErrorSchema, "The user was deleted in Clerk"),
  409: json(
    ErrorSchema,
    "The Clerk user cannot be provisioned (no usable e-mail, or the e-mail is held by another user)",
  ),
  503: json(ErrorSchema, "The database or Clerk is unavailable; retry"),
};
const security: Record<string, string[]>[] = [{ bearerAuth: [] }, { sessionCookie: [] }];

const getMe = createRoute({
  method: "get",
  path: "/v1/me",
  operationId: "getMe",
  summary: "The signed-in user and their workspace",
  description:
    "Provisions the user just in time (from the Clerk Backend API) when Clerk's user.created webhook has not arrived yet; likewise the token's active organization and the user's membership in it.",
  security,
  responses: { 200: json(MeSchema, "The user and their workspace"), ...errors },
});

const renameMyWorkspace = createRoute({
  method: "patch",
  path: "/v1/me/workspace",
  operationId: "renameMyWorkspace",
  summary: "Rename the signed-in user's workspace",
  security,
  request: { body: { required: true, ...json(RenameWorkspaceSchema, "The new name") } },
  responses: {
    200: json(WorkspaceSchema, "The renamed workspace"),
    400: json(ErrorSchema, "The body is not JSON"),
    413: json(ErrorSchema, "The body is larger than 64 KiB"),
    415: json(ErrorSchema, "The body is not application/json"),
    422: json(ErrorSchema, "The name is not 1–100 characters once trimmed (the message names the field)"),
    ...errors,
  },
});

/**
 * `/v1/me` and `/v1/me/workspace`, authenticated by a Clerk session token.
 * The session is verified before anything else runs: no database query for an unauthenticated request.
 */
export function meRoutes(deps: MeDeps) {
  const authenticate = sessionMiddleware(deps);
  const account = accountOf(deps);
  const organizations = organizationsOf(deps);
  return openApiApp()
    .openapi({ ...getMe, middleware: [authenticate] as const }, async (c) => {
      const { userId, activeOrganizationId } = c.var.session;
      const found = await account(userId);
      return c.json(
        { ...serializeAccount(found), organizations: await organizations(userId, activeOrganizationId) },
        200,
      );
    })
    .openapi({ ...renameMyWorkspace, middleware: [limitBody, authenticate] as const }, async (c) => {
      const { userId } = c.var.session;
      const { name } = c.req.valid("json");
      // The common case is one UPDATE; a user the webhook has not provisioned yet is provisioned first.
      let workspace = await renameWorkspace(deps.db, userId, name);
      if (!workspace) {
        await account(userId);
        workspace = await renameWorkspace(deps.db, userId, name);
      }
      if (!workspace) throw new ServiceError("user_deleted", "this user has been deleted");
      return c.json(serializeWorkspace(workspace), 200);
    });
}

/** The verified session in `c.var.session`, or 401 (with `WWW-Authenticate`) / 503 when keys cannot be fetched. */
function sessionMiddleware({ clerk, logger, requireMigrated }: MeDeps) {
  const verifySession = createSessionVerifier(clerk);
  return createMiddleware<Env>(async (c, next) => {
    try {
      c.set(
        "session",
        await verifySession({ authorization: c.req.header("authorization"), cookie: c.req.header("cookie") }),
      );
    } catch (error) {
      if (isServiceError(error, "auth_unavailable")) {
        logger.error({ reason: error.message }, "session verification unavailable");
        throw new ServiceError("auth_unavailable", "session tokens cannot be verified right now; retry later");
      }
      if (isServiceError(error, "unauthenticated")) c.header("WWW-Authenticate", `Bearer error="invalid_token"`);
      throw error;
    }
    c.header("Cache-Control", "no-store");
    await requireMigrated?.();
    await next();
  });
}

/** The signed-in user's account, provisioned just in time when no webhook has come yet. */
function accountOf({ db, clerk, logger, lookupCache, writer }: MeDeps) {
  const fetchClerkUser = createClerkUserFetcher(clerk);
  return async (userId: string): Promise<Account> => {
    const started = performance.now();
    const lookup = await ensureAccount(
      { db, fetchClerkUser, ...(lookupCache ? { cache: lookupCache } : {}), ...(writer ? { writer } : {}) },
      userId,
    ).catch((error: unknown) => {
      if (isServiceError(error, "clerk_unavailable")) {
        logger.warn({ userId, detail: error.detail }, "Clerk user lookup failed");
      }
      throw error;
    });
    if (lookup.kind === "found" && lookup.provisioned) {
      logger.info({ userId, outcome: lookup.provisioned, ms: elapsed(started) }, "just-in-time provisioning");
    }
    if (lookup.kind === "deleted") throw new ServiceError("user_deleted", "this user has been deleted");
    if (lookup.kind === "unprovisionable") {
      throw new ServiceError("user_not_provisionable", "the Clerk user has no usable primary e-mail address");
    }
    return lookup.account;
  };
}

/**
 * The user's organizations, the token's active one fetched from Clerk just in time when it is not stored yet; left
 * out when Clerk cannot confirm it (the rest of the answer does not depend on Clerk).
 */
function organizationsOf({ db, clerk, logger, lookupCache, writer }: MeDeps) {
  const fetchClerkOrganization = createClerkOrganizationFetcher(clerk);
  const deps = {
    db,
    fetchClerkOrganization,
    ...(lookupCache ? { cache: lookupCache } : {}),
    ...(writer ? { writer } : {}),
  };
  return async (userId: string, organizationId: string | undefined) => {
    const started = performance.now();
    const { organizations, active } = await ensureOrganizations(deps, userId, organizationId);
    if (active.kind === "applied") {
      logger.info({ userId, organizationId, ms: elapsed(started) }, "just-in-time organization");
    }
    if (active.kind === "unconfirmed") {
      logger.warn({ userId, organizationId, detail: active.detail }, "Clerk organization lookup failed");
    }
    return organizations;
  };
}

/** Invalid requests as 422 naming the field; the two ways to present a session token in the document. */
function openApiApp() {
  const app = new OpenAPIHono<Env>({
    defaultHook: (result) => {
      if (result.success) return;
      const issue = result.error.issues[0];
      const field = issue?.path.map(String).join(".") || "body";
      throw new ServiceError("invalid_request", `${field}: ${issue?.message ?? "invalid"}`);
    },
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "A Clerk session token: `await clerk.session.getToken()`",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "sessionCookie", {
    type: "apiKey",
    in: "cookie",
    name: "__session",
  });
  return app;
}

const iso = (date: Date) => date.toISOString();
const serializeWorkspace = (w: AccountWorkspace) => ({
  ...w,
  createdAt: iso(w.createdAt),
  updatedAt: iso(w.updatedAt),
});
const serializeAccount = ({ user, workspace }: Account) => ({
  user: { ...user, createdAt: iso(user.createdAt), updatedAt: iso(user.updatedAt) },
  workspace: serializeWorkspace(workspace),
});
const elapsed = (since: number) => Math.round((performance.now() - since) * 100) / 100;
