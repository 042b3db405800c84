import { z } from "zod";
import {
  booleanFlag,
  checkSigningSecrets,
  isClerkJwtKey,
  isOrigin,
  optional,
  splitSigningSecrets,
  wholeNumber,
  withDefault,
} from "./env-values.js";
import { ServiceError } from "./errors.js";

const EnvSchema = z
  .object({
    NODE_ENV: withDefault(z.enum(["development", "production", "test"]), "development"),
    PORT: withDefault(wholeNumber(0, 65535), 3000),
    HOST: withDefault(z.string(), "0.0.0.0"),
    LOG_LEVEL: withDefault(z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]), "info"),
    DATABASE_URL: optional(z.url({ protocol: /^postgres(ql)?$/, error: "must be a postgres:// or postgresql:// URL" })),
    PGLITE_DATA_DIR: withDefault(z.string(), ".data/pglite"),
    DATABASE_POOL_MAX: withDefault(wholeNumber(1, 1000), 20),
    DATABASE_IDLE_TIMEOUT_SECONDS: withDefault(wholeNumber(0), 30),
    DATABASE_CONNECT_TIMEOUT_SECONDS: withDefault(wholeNumber(1), 10),
    DATABASE_STATEMENT_TIMEOUT_MS: withDefault(wholeNumber(100, 9_000), 5_000),
    HTTP_MAX_CONNECTIONS: withDefault(wholeNumber(1, 1_000_000), 1000),
    HTTP_HEADERS_TIMEOUT_SECONDS: withDefault(wholeNumber(1, 300), 10),
    HTTP_REQUEST_TIMEOUT_SECONDS: withDefault(wholeNumber(1, 600), 20),
    HTTP_KEEP_ALIVE_TIMEOUT_SECONDS: withDefault(wholeNumber(1, 600), 5),
    CLERK_LOOKUP_CACHE_SECONDS: withDefault(wholeNumber(0, 86_400), 60),
    CLERK_ACCEPT_PENDING_SESSIONS: withDefault(booleanFlag, false),
    SYNC_INTERVAL_SECONDS: withDefault(wholeNumber(0, 604_800), 900),
    FULL_SYNC_INTERVAL_SECONDS: withDefault(wholeNumber(0, 31_536_000), 86_400),
    SYNC_REQUESTS_PER_10S: optional(wholeNumber(1, 10_000)),
    CLERK_WEBHOOK_SIGNING_SECRET: optional(
      z
        .string()
        .transform(splitSigningSecrets)
        .superRefine(checkSigningSecrets)
        .transform((secrets) => secrets.join(" ")),
    ),
    CLERK_SECRET_KEY: optional(z.string()),
    CLERK_API_URL: optional(z.url()),
    CLERK_JWT_KEY: optional(
      z
        .string()
        // Hosts that keep env values on one line often hold a PEM with literal `\n`s.
        .transform((value) => value.replaceAll("\\n", "\n").trim())
        .refine(
          isClerkJwtKey,
          "must be the PEM public key from Clerk Dashboard → API keys (RSA 2048, BEGIN PUBLIC KEY)",
        ),
    ),
    CLERK_AUTHORIZED_PARTIES: optional(
      z
        .string()
        .transform((value) =>
          value
            .split(",")
            .map((party) => party.trim().replace(/\/$/, ""))
            .filter(Boolean),
        )
        .pipe(z.array(z.string().refine(isOrigin, "each entry must be an origin such as https://app.example.com"))),
    ),
  })
  .superRefine(
    (env, ctx) => {
      if (env.HTTP_HEADERS_TIMEOUT_SECONDS > env.HTTP_REQUEST_TIMEOUT_SECONDS) {
        ctx.addIssue({
          code: "custom",
          path: ["HTTP_HEADERS_TIMEOUT_SECONDS"],
          message: "must not exceed HTTP_REQUEST_TIMEOUT_SECONDS (the headers are part of the request)",
        });
      }
    },
    { when: () => true },
  );

/** What verifies or signs deliveries (the server, send-event): in production the secret is set, never made up. */
const WebhookEnvSchema = EnvSchema.superRefine(
  (env, ctx) => {
    if (env.NODE_ENV === "production" && !env.CLERK_WEBHOOK_SIGNING_SECRET) {
      ctx.addIssue({
        code: "custom",
        path: ["CLERK_WEBHOOK_SIGNING_SECRET"],
        message: "required when NODE_ENV=production (the endpoint's whsec_… secret from the Clerk dashboard)",
      });
    }
    // The scheduled reconcile's lock keeps a connection of the pool for the whole run, which writes on another.
    if (env.DATABASE_URL && env.CLERK_SECRET_KEY && env.SYNC_INTERVAL_SECONDS > 0 && env.DATABASE_POOL_MAX < 2) {
      ctx.addIssue({
        code: "custom",
        path: ["DATABASE_POOL_MAX"],
        message:
          "must be at least 2 while the scheduled reconcile is on (its lock holds one connection while it writes on " +
          "another); or turn the reconcile off with SYNC_INTERVAL_SECONDS=0",
      });
    }
  },
  { when: () => true },
);

export type Env = z.infer<typeof EnvSchema>;

export interface Config {
  env: Env["NODE_ENV"];
  port: number;
  host: string;
  logLevel: Env["LOG_LEVEL"];
  database:
    | { kind: "pglite"; dataDir: string }
    | {
        kind: "postgres";
        url: string;
        poolMax: number;
        idleTimeoutSeconds: number;
        connectTimeoutSeconds: number;
        statementTimeoutMs: number;
      };
  /** Limits of the HTTP server (node:http), so that idle and slow connections cannot hold its sockets. */
  http: {
    maxConnections: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    keepAliveTimeoutMs: number;
  };
  /**
   * The endpoint's secret, or several separated by a space (see `splitSigningSecrets`): any of them verifies a
   * delivery. Unset outside production: a development secret is made and kept beside the embedded data.
   */
  webhookSigningSecret: string | undefined;
  clerk: {
    /** Backend API key: just-in-time user lookups for `/v1/me` (and the JWKS when `jwtKey` is unset). */
    secretKey: string | undefined;
    apiUrl: string | undefined;
    /** PEM public key: session tokens verified without a network call. */
    jwtKey: string | undefined;
    /** A session token's `azp` must be one of these origins; empty accepts any. */
    authorizedParties: string[];
    /** How long `/v1/me` remembers that a Clerk user has no usable e-mail before asking Clerk again (0: never). */
    lookupCacheSeconds: number;
    /** Whether a pending session (`sts: "pending"`, tasks left) counts as signed in; Clerk's default is no. */
    acceptPendingSessions: boolean;
  };
  /** The scheduled reconcile (sync/schedule.ts); it runs only with `clerk.secretKey`. */
  sync: {
    /** Between runs (0: off). */
    intervalMs: number;
    /** A full listing (no prune) when the last completed one is this old (0: never). */
    fullIntervalMs: number;
    /** Clerk requests per 10 s the runs may send; undefined: a small share of the instance's limit. */
    requestsPer10s: number | undefined;
  };
}

/** The one error type, with every bad variable named. */
export class ConfigError extends ServiceError {
  constructor(readonly problems: string[]) {
    super("config", `invalid environment:\n  ${problems.join("\n  ")}`);
  }
}

/**
 * The only reader of `process.env`: every bad variable is named at once. `receivesWebhooks: false` for the commands
 * that never touch a delivery's signature (sync, replay, prune-deliveries): production needs no signing secret there.
 */
export function loadConfig(
  source: Record<string, string | undefined> = process.env,
  { receivesWebhooks = true } = {},
): Config {
  const parsed = (receivesWebhooks ? WebhookEnvSchema : EnvSchema).safeParse(source);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`));
  }
  const env = parsed.data;
  return {
    env: env.NODE_ENV,
    port: env.PORT,
    host: env.HOST,
    logLevel: env.LOG_LEVEL,
    database: env.DATABASE_URL
      ? {
          kind: "postgres",
          url: env.DATABASE_URL,
          poolMax: env.DATABASE_POOL_MAX,
          idleTimeoutSeconds: env.DATABASE_IDLE_TIMEOUT_SECONDS,
          connectTimeoutSeconds: env.DATABASE_CONNECT_TIMEOUT_SECONDS,
          statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
        }
      : { kind: "pglite", dataDir: env.PGLITE_DATA_DIR },
    http: {
      maxConnections: env.HTTP_MAX_CONNECTIONS,
      headersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_SECONDS * 1000,
      requestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_SECONDS * 1000,
      keepAliveTimeoutMs: env.HTTP_KEEP_ALIVE_TIMEOUT_SECONDS * 1000,
    },
    webhookSigningSecret: env.CLERK_WEBHOOK_SIGNING_SECRET || undefined,
    clerk: {
      secretKey: env.CLERK_SECRET_KEY,
      apiUrl: env.CLERK_API_URL,
      jwtKey: env.CLERK_JWT_KEY,
      authorizedParties: env.CLERK_AUTHORIZED_PARTIES ?? [],
      lookupCacheSeconds: env.CLERK_LOOKUP_CACHE_SECONDS,
      acceptPendingSessions: env.CLERK_ACCEPT_PENDING_SESSIONS,
    },
    sync: {
      intervalMs: env.SYNC_INTERVAL_SECONDS * 1000,
      fullIntervalMs: env.FULL_SYNC_INTERVAL_SECONDS * 1000,
      requestsPer10s: env.SYNC_REQUESTS_PER_10S,
    },
  };
}
