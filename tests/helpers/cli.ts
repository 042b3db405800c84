import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import postgres from "postgres";
import { expect } from "vitest";
import type { Command } from "../../src/cli/cli.js";
import { openPglite, openPostgres } from "../../src/db/client.js";
import type { Db } from "../../src/db/types.js";
import { createPostgresDatabase, testDatabaseUrl, testPoolerUrl, throughPooler } from "./database.js";
import { PROJECT_ROOT } from "./service-process.js";

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<CliResult>;
}

/**
 * Starts `node --import tsx src/bin/<script>.ts <args>` in the project (for exit codes and signals of the real
 * process), with only PATH and HOME of the test
 * runner's environment (nothing of its DATABASE_URL, CLERK_* or NODE_ENV leaks in) plus `env`.
 */
export function startCli(script: string, args: string[], env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, ["--import", "tsx", `src/bin/${script}.ts`, ...args], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<CliResult>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

export function runCliProcess(script: string, args: string[], env: Record<string, string>): Promise<CliResult> {
  return startCli(script, args, env).exited;
}

/**
 * Runs the command `src/cli/<script>.ts` in this process (its exported `run`), with only `env` (and LOG_LEVEL) as
 * its environment and stdout and stderr captured (stderr as a pipe: not a terminal).
 */
export async function runCli(script: string, args: string[], env: Record<string, string>): Promise<CliResult> {
  const { run } = (await import(`../../src/cli/${script}.ts`)) as { run: Command };
  let stdout = "";
  let stderr = "";
  const code = await run(args, {
    env: { LOG_LEVEL: "warn", ...env },
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    signal: new AbortController().signal,
  });
  return { code, signal: null, stdout, stderr };
}

/** The last stdout line, parsed (the commands' `--json` summary). */
export function jsonOf<T = Record<string, unknown>>(result: CliResult): T {
  const line = result.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`no JSON summary (exit ${result.code}):\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
}

/** Describes a run for assertion messages. */
export const describeRun = (result: CliResult) =>
  `exit ${result.code ?? result.signal}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;

/** The exit code, with the run's output in the failure message. */
export function expectExit(result: CliResult, code: number): void {
  expect(result.code, describeRun(result)).toBe(code);
}

/**
 * A database the commands under test open themselves: PostgreSQL (a database of its own on the test server), or
 * PGlite in a data directory. PGlite is one process's database, so the test opens it only while no command runs.
 */
export interface CliDatabase {
  name: CliDatabaseName;
  /** The variables that point a command at it. */
  env: Record<string, string>;
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Runs `work` with the service's own database handle (for seeding through the provisioning code). */
  withDb<T>(work: (db: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** With `throughPooler`, the commands reach the database through TEST_POOLER_URL (the test itself, directly). */
export async function openCliPostgres({ throughPooler: pooled = false } = {}): Promise<CliDatabase> {
  const created = await createPostgresDatabase();
  const plain = postgres(created.url, { max: 2, onnotice: () => {} });
  return {
    name: pooled ? "pooler" : "postgres",
    env: { DATABASE_URL: pooled ? throughPooler(created.url) : created.url },
    query: async <T>(text: string, params: unknown[] = []) =>
      (await plain.unsafe(text, params as postgres.ParameterOrJSON<never>[])) as unknown as T[],
    withDb: async (work) => {
      const database = openPostgres({
        kind: "postgres",
        url: created.url,
        poolMax: 4,
        idleTimeoutSeconds: 5,
        connectTimeoutSeconds: 5,
        statementTimeoutMs: 5_000,
      });
      try {
        return await work(database.db);
      } finally {
        await database.close();
      }
    },
    close: async () => {
      await plain.end();
      await created.drop();
    },
  };
}

export async function openCliPglite(): Promise<CliDatabase> {
  const dir = mkdtempSync(join(tmpdir(), "cli-pglite-"));
  const dataDir = join(dir, "pglite");
  // Migrated once here, so that each query below opens an up-to-date database.
  await (await openPglite(dataDir)).close();
  return {
    name: "pglite",
    // The development webhook secret lives beside the data directory, as with npm start.
    env: { PGLITE_DATA_DIR: dataDir },
    query: async <T>(text: string, params: unknown[] = []) => {
      const client = new PGlite(dataDir);
      try {
        return (await client.query<T>(text, params)).rows;
      } finally {
        await client.close();
      }
    },
    withDb: async (work) => {
      const database = await openPglite(dataDir);
      try {
        return await work(database.db);
      } finally {
        await database.close();
      }
    },
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

type CliDatabaseName = "pglite" | "postgres" | "pooler";

/** PGlite always; the real server too when TEST_DATABASE_URL is set; through the pooler with `pooler` (as `drivers()`). */
export function cliDatabases({ pooler = false } = {}): { name: CliDatabaseName; open(): Promise<CliDatabase> }[] {
  const list: { name: CliDatabaseName; open(): Promise<CliDatabase> }[] = [{ name: "pglite", open: openCliPglite }];
  if (testDatabaseUrl) list.push({ name: "postgres", open: () => openCliPostgres() });
  if (pooler && testDatabaseUrl && testPoolerUrl) {
    list.push({ name: "pooler", open: () => openCliPostgres({ throughPooler: true }) });
  }
  return list;
}
