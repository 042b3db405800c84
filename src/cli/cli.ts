import { type ParseArgsConfig, parseArgs } from "node:util";
import { ClerkAuthError, ClerkUnavailableError } from "../clerk/backend-api.js";
import { type Config, ConfigError } from "../config.js";
import { type Database, openDatabase } from "../db/client.js";
import { classifyDbError, DatabaseUnavailableError } from "../db/errors.js";
import { SyncBusyError } from "../provisioning/reconcile-users.js";
import type { ProgressMode } from "./progress.js";

/** Exit codes of the operator commands (README § Operator commands); scripts may rely on them. */
export const EXIT = {
  ok: 0,
  /** Stopped by an error (Clerk or the database unavailable after retries, …); a sync resumes when run again. */
  failed: 1,
  /** Bad arguments or configuration; nothing was done. */
  usage: 2,
  /** Clerk refused `CLERK_SECRET_KEY` (401/403). */
  clerkAuth: 3,
  /** Done, but some users (sync) or deliveries (replay) could not be provisioned: see the summary. */
  incomplete: 4,
  /** `--prune` would remove more users than `--max-prune`: nothing was removed. */
  pruneRefused: 5,
  /** Ctrl-C (SIGINT) or SIGTERM: stopped after the last committed page; run again to continue. */
  interrupted: 130,
} as const;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** `node:util` parseArgs, strict, with its errors as `UsageError`. */
export function parseCliArgs<T extends ParseArgsConfig>(config: T) {
  try {
    return parseArgs({ strict: true, ...config });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

export function requireSecretKey(config: Config): string {
  if (!config.clerk.secretKey) {
    throw new UsageError("CLERK_SECRET_KEY is not set: the Clerk Backend API secret key (Dashboard → API keys)");
  }
  return config.clerk.secretKey;
}

/**
 * The configured database, as the service opens it (PGlite is migrated on open), with a small pool: the commands
 * run one statement at a time, plus the sync's lock.
 */
export function openCliDatabase(config: Config): Promise<Database> {
  const database = config.database;
  return openDatabase(
    database.kind === "postgres" ? { ...database, poolMax: Math.min(database.poolMax, 4) } : database,
  );
}

/** The message and exit code for an error that stopped a command. */
export function describeFailure(error: unknown): { code: number; message: string } {
  if (error instanceof UsageError) return { code: EXIT.usage, message: error.message };
  if (error instanceof ConfigError) {
    return { code: EXIT.usage, message: `invalid environment:\n  ${error.problems.join("\n  ")}` };
  }
  if (error instanceof ClerkAuthError) {
    return {
      code: EXIT.clerkAuth,
      message: `${error.message}: check that it is the secret key (sk_live_… / sk_test_…) of the right instance, and that CLERK_API_URL is right if set`,
    };
  }
  if (error instanceof ClerkUnavailableError) {
    return { code: EXIT.failed, message: `${error.message}; run the command again later` };
  }
  if (error instanceof SyncBusyError) return { code: EXIT.failed, message: error.message };
  if (error instanceof DatabaseUnavailableError || classifyDbError(error).kind === "unavailable") {
    const { code } = classifyDbError(error) as { code?: string };
    return { code: EXIT.failed, message: `database unavailable (${code ?? "unknown"}); run the command again later` };
  }
  const { code } = classifyDbError(error) as { code?: string };
  if (code === "42P01" || code === "42703") {
    return { code: EXIT.failed, message: "the database schema is behind this code: run `npm run db:migrate` first" };
  }
  return { code: EXIT.failed, message: errorMessage(error) };
}

/** An error's message; for a failed query, the driver's (drizzle's wrapper repeats the query and every parameter). */
function errorMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === "DrizzleQueryError" && error.cause instanceof Error)
    return `database error: ${error.cause.message}`;
  return error.message;
}

/**
 * Ctrl-C and SIGTERM: the first asks the command to stop after what it is doing (its signal aborts); a second one
 * exits at once.
 */
export function interruptOnSignals(onFirst: (signal: NodeJS.Signals) => void): AbortSignal {
  const controller = new AbortController();
  const handle = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      process.stderr.write(`\n${signal} again: exiting now\n`);
      process.exit(EXIT.interrupted);
    }
    onFirst(signal);
    controller.abort();
  };
  process.on("SIGINT", handle);
  process.on("SIGTERM", handle);
  return controller.signal;
}

/**
 * Runs a command's main; an error becomes a one-line message on stderr and its exit code. Exits explicitly: an
 * abandoned request (a prefetch after Ctrl-C) or an idle keep-alive socket must not hold the process open.
 * (stdout and stderr to a pipe, file or terminal are written synchronously on Linux: nothing is lost.)
 */
export function runCommand(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      const { code, message } = describeFailure(error);
      process.stderr.write(`${name}: ${message}\n`);
      process.exit(code);
    },
  );
}

export const formatCount = (n: number) => n.toLocaleString("en-US");

/** `--name N` as an integer in [min, max]; undefined when not given. */
export function integerOption(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}`);
  }
  return n;
}

/** `--progress`: a redrawn bar on a terminal, plain lines otherwise, unless chosen. */
export function progressOption(value: string | undefined): ProgressMode {
  const mode = value ?? (process.stderr.isTTY ? "bar" : "lines");
  if (mode !== "bar" && mode !== "lines" && mode !== "none")
    throw new UsageError("--progress must be bar, lines or none");
  return mode;
}
