import { type ParseArgsConfig, parseArgs } from "node:util";
import type { Config } from "../config.js";
import { type Database, openDatabase } from "../db/client.js";
import { toDatabaseError } from "../db/errors.js";
import { type ErrorCode, ServiceError } from "../errors.js";
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

export const usageError = (message: string) => new ServiceError("usage", message);

/** `node:util` parseArgs, strict, with its errors as `UsageError`. */
export function parseCliArgs<T extends ParseArgsConfig>(config: T) {
  try {
    return parseArgs({ strict: true, ...config });
  } catch (error) {
    throw usageError(error instanceof Error ? error.message : String(error));
  }
}

export function requireSecretKey(config: Config): string {
  if (!config.clerk.secretKey) {
    throw usageError("CLERK_SECRET_KEY is not set: the Clerk Backend API secret key (Dashboard → API keys)");
  }
  return config.clerk.secretKey;
}

/**
 * The configured database, as the service opens it (PGlite is migrated on open), with a small pool: the commands
 * run one statement at a time, plus the sync's lock (so at least 2, whatever DATABASE_POOL_MAX says).
 */
export function openCliDatabase(config: Config): Promise<Database> {
  const database = config.database;
  return openDatabase(
    database.kind === "postgres" ? { ...database, poolMax: Math.min(Math.max(database.poolMax, 2), 4) } : database,
  );
}

/** The exit code of each error code (README § Operator commands). */
const EXIT_CODE: Record<ErrorCode, number> = {
  usage: EXIT.usage,
  config: EXIT.usage,
  clerk_unauthorized: EXIT.clerkAuth,
  interrupted: EXIT.interrupted,
  missing_signature: EXIT.failed,
  invalid_signature: EXIT.failed,
  invalid_json: EXIT.failed,
  invalid_payload: EXIT.failed,
  invalid_request: EXIT.failed,
  payload_too_large: EXIT.failed,
  unsupported_media_type: EXIT.failed,
  not_found: EXIT.failed,
  unauthenticated: EXIT.failed,
  email_conflict: EXIT.failed,
  user_deleted: EXIT.failed,
  user_not_provisionable: EXIT.failed,
  constraint_violation: EXIT.failed,
  database_unavailable: EXIT.failed,
  schema_outdated: EXIT.failed,
  auth_unavailable: EXIT.failed,
  clerk_unavailable: EXIT.failed,
  sync_busy: EXIT.failed,
  lock_lost: EXIT.failed,
  not_replayable: EXIT.usage,
  internal: EXIT.failed,
};

/** What an operator can do about each code, after its message. */
const ADVICE: Partial<Record<ErrorCode, string>> = {
  clerk_unauthorized:
    ": check that it is the secret key (sk_live_… / sk_test_…) of the right instance, and that CLERK_API_URL is right if set",
  clerk_unavailable: "; run the command again later",
  database_unavailable: "; run the command again later",
};

/** The message and exit code for an error that stopped a command. */
export function describeFailure(error: unknown): { code: number; message: string } {
  const failure = error instanceof ServiceError ? error : toDatabaseError(error);
  let message = failure.message;
  if (failure.code === "database_unavailable") message = `database unavailable (${failure.detail ?? "unknown"})`;
  if (failure.code === "internal" && failure.detail) message = `database error: ${databaseMessage(failure)}`;
  return { code: EXIT_CODE[failure.code], message: `${message}${ADVICE[failure.code] ?? ""}` };
}

/** For an operator: the driver's own message (drizzle's wrapper repeats the query and every parameter). */
function databaseMessage(error: ServiceError): string {
  let cause: unknown = error.cause;
  while (cause instanceof Error && cause.name === "DrizzleQueryError" && cause.cause) cause = cause.cause;
  return cause instanceof Error ? cause.message : (error.detail ?? "unknown");
}

/** What a command reads and writes besides its arguments: the process's, or a test's. */
export interface CommandIo {
  env: Record<string, string | undefined>;
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  /** Aborted by the first Ctrl-C or SIGTERM: the command stops after what it is doing. */
  signal: AbortSignal;
}

export type Command = (argv: string[], io: CommandIo) => Promise<number>;

/** Runs a command's main; an error becomes a one-line message on stderr and its exit code. */
export function command(name: string, main: (argv: string[], io: CommandIo) => Promise<number>): Command {
  return async (argv, io) => {
    try {
      return await main(argv, io);
    } catch (error) {
      const { code, message } = describeFailure(error);
      io.stderr.write(`${name}: ${message}\n`);
      return code;
    }
  };
}

/**
 * The process entry of a command (src/bin/): the first Ctrl-C or SIGTERM aborts its signal, a second exits at once.
 * Exits explicitly: an abandoned request (a prefetch after Ctrl-C) or an idle keep-alive socket must not hold the
 * process open. (stdout and stderr to a pipe, file or terminal are written synchronously on Linux: nothing is lost.)
 */
export function runAsProcess(run: Command): void {
  const controller = new AbortController();
  const handle = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      process.stderr.write(`\n${signal} again: exiting now\n`);
      process.exit(EXIT.interrupted);
    }
    controller.abort(signal);
  };
  process.on("SIGINT", handle);
  process.on("SIGTERM", handle);
  const io = { env: process.env, stdout: process.stdout, stderr: process.stderr, signal: controller.signal };
  run(process.argv.slice(2), io).then((code) => process.exit(code));
}

/** Calls `note` with the signal's name when the command is asked to stop. */
export function onInterrupt(signal: AbortSignal, note: (name: string) => void): void {
  signal.addEventListener("abort", () => note(String(signal.reason ?? "interrupted")), { once: true });
}

export const formatCount = (n: number) => n.toLocaleString("en-US");

/** `--name N` as an integer in [min, max]; undefined when not given. */
export function integerOption(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw usageError(`--${name} must be an integer from ${min} to ${max}`);
  }
  return n;
}

/** `--progress`: a redrawn bar on a terminal, plain lines otherwise, unless chosen. */
export function progressOption(value: string | undefined, stderr: CommandIo["stderr"]): ProgressMode {
  const mode = value ?? (stderr.isTTY ? "bar" : "lines");
  if (mode !== "bar" && mode !== "lines" && mode !== "none") throw usageError("--progress must be bar, lines or none");
  return mode;
}
