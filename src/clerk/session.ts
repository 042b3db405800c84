import { verifyToken } from "@clerk/backend";
import { TokenVerificationError, TokenVerificationErrorReason } from "@clerk/backend/errors";
import { ServiceError } from "../errors.js";
import { MAX_CLERK_ID_LENGTH } from "./events.js";

/**
 * A Clerk user id: `user_` and letters and digits (a KSUID). A correctly signed token naming anything else cannot
 * be one of our users; refusing it here answers 401, where the Backend API client would refuse it (a 503 forever).
 */
const CLERK_USER_ID = new RegExp(`^user_[A-Za-z0-9]{1,${MAX_CLERK_ID_LENGTH - 5}}$`);

/** What the service needs of Clerk: session verification and the Backend API. Built from `Config.clerk`. */
export interface ClerkOptions {
  /** PEM public key (Clerk Dashboard → API keys → JWT public key): verification without any network call. */
  jwtKey?: string | undefined;
  /** Backend API key: the JIT user lookup, and the JWKS when no `jwtKey` is set. */
  secretKey?: string | undefined;
  apiUrl?: string | undefined;
  /** Origins a session token's `azp` must be one of; empty accepts any (Clerk's default). */
  authorizedParties?: string[] | undefined;
  /**
   * Seconds `/v1/me` remembers a Clerk user without a usable e-mail, and a token's active organization that Clerk
   * does not have or the user is not a member of (default 60; 0: not at all).
   */
  lookupCacheSeconds?: number | undefined;
  /** Whether a pending session (`sts: "pending"`) is signed in; default false, as in Clerk's SDKs. */
  acceptPendingSessions?: boolean | undefined;
}

export interface Session {
  userId: string;
  sessionId: string | undefined;
  /** The token's active organization: v2 `o.id`, v1 `org_id` (undefined when none is active). */
  activeOrganizationId?: string | undefined;
}

/** A Clerk organization id, `org_` and a KSUID: the only thing that may go into a Backend API path (lookups.ts). */
const CLERK_ORGANIZATION_ID = new RegExp(`^org_[A-Za-z0-9]{1,${MAX_CLERK_ID_LENGTH - 4}}$`);

/**
 * `o.id` (session token v2) or `org_id` (v1); absent is no active organization. A value that is not a Clerk
 * organization id (`..`, `org_x?limit=500`) is refused like a bad `sub`: it would make its way into Clerk's URLs.
 */
function activeOrganization(claims: Record<string, unknown>): string | undefined {
  const o = claims.o;
  const id = typeof o === "object" && o !== null ? (o as { id?: unknown }).id : claims.org_id;
  if (id === undefined || id === null) return undefined;
  if (typeof id === "string" && CLERK_ORGANIZATION_ID.test(id)) return id;
  throw notAuthenticated("the session token's active organization is not a Clerk organization id");
}

/** Why a request is not authenticated: `auth_unavailable` is our side (no key configured, JWKS unreachable). */
const notAuthenticated = (message: string) => new ServiceError("unauthenticated", message);

export type VerifySession = (headers: {
  authorization: string | undefined;
  cookie: string | undefined;
}) => Promise<Session>;

/** A session token from `Authorization: Bearer …` (preferred) or, for same-site browsers, the `__session` cookie. */
export function extractSessionToken(headers: { authorization: string | undefined; cookie: string | undefined }) {
  if (headers.authorization !== undefined) {
    const match = /^Bearer +([^\s]+) *$/i.exec(headers.authorization);
    if (!match?.[1]) throw notAuthenticated("the Authorization header must be `Bearer <session token>`");
    return match[1];
  }
  for (const part of (headers.cookie ?? "").split(";")) {
    const [name, ...value] = part.split("=");
    if (name?.trim() === "__session") {
      const token = value.join("=").trim();
      if (token) return token;
    }
  }
  throw notAuthenticated("no session token: send `Authorization: Bearer <token>` or the __session cookie");
}

/** Reasons that are our fault (configuration, Clerk unreachable), not the caller's. */
const SERVER_SIDE: string[] = [
  TokenVerificationErrorReason.LocalJWKMissing,
  TokenVerificationErrorReason.RemoteJWKFailedToLoad,
  TokenVerificationErrorReason.RemoteJWKInvalid,
  TokenVerificationErrorReason.JWKFailedToResolve,
  TokenVerificationErrorReason.InvalidSecretKey,
];

const MESSAGES: Record<string, string> = {
  [TokenVerificationErrorReason.TokenExpired]: "the session token has expired",
  [TokenVerificationErrorReason.TokenNotActiveYet]: "the session token is not active yet",
  [TokenVerificationErrorReason.TokenIatInTheFuture]: "the session token is issued in the future",
  [TokenVerificationErrorReason.TokenInvalidAuthorizedParties]: "the session token's azp is not an authorized party",
};

/**
 * Verifies Clerk session tokens with `@clerk/backend`'s `verifyToken`: networkless with `jwtKey`, otherwise with
 * the instance's JWKS fetched (and cached) through the Backend API. Touches no database.
 */
export function createSessionVerifier(options: ClerkOptions): VerifySession {
  const { jwtKey, secretKey, apiUrl, acceptPendingSessions = false } = options;
  const authorizedParties = options.authorizedParties?.length ? options.authorizedParties : undefined;
  return async (headers) => {
    const token = extractSessionToken(headers);
    if (!jwtKey && !secretKey) {
      throw new ServiceError(
        "auth_unavailable",
        "session verification is not configured (CLERK_JWT_KEY or CLERK_SECRET_KEY)",
      );
    }
    let claims: Awaited<ReturnType<typeof verifyToken>>;
    try {
      claims = await verifyToken(token, {
        ...(jwtKey ? { jwtKey } : { secretKey }),
        ...(apiUrl ? { apiUrl } : {}),
        ...(authorizedParties ? { authorizedParties } : {}),
      });
    } catch (error) {
      if (error instanceof TokenVerificationError && SERVER_SIDE.includes(error.reason)) {
        throw new ServiceError("auth_unavailable", "session tokens cannot be verified right now");
      }
      const reason = error instanceof TokenVerificationError ? error.reason : undefined;
      throw notAuthenticated((reason && MESSAGES[reason]) ?? "the session token is not valid");
    }
    if (typeof claims.sub !== "string" || claims.sub === "") {
      throw notAuthenticated("the session token has no subject");
    }
    if (!CLERK_USER_ID.test(claims.sub)) throw notAuthenticated("the session token's subject is not a Clerk user id");
    // Clerk's SDKs treat a pending session (sign-up tasks left, e.g. choosing an organization) as signed out.
    if (claims.sts === "pending" && !acceptPendingSessions) {
      throw notAuthenticated("the session is pending: finish signing in first");
    }
    return {
      userId: claims.sub,
      sessionId: typeof claims.sid === "string" ? claims.sid : undefined,
      activeOrganizationId: activeOrganization(claims as Record<string, unknown>),
    };
  };
}
