/**
 * `npm run bench:sync`: `npm run sync` (the real CLI, as a child process) against a local Clerk Backend API serving
 * 100,000 users, into a fresh PostgreSQL database, twice: the back-fill, then a run with nothing to change.
 * See README.md § Benchmark.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createMigratedDatabase } from "../tests/helpers/database.js";
import { startFakeClerkApi, TEST_CLERK_SECRET_KEY } from "../tests/helpers/fake-clerk-api.js";
import { benchUser } from "./sync-workload.js";

const { values: args } = parseArgs({
  options: {
    users: { type: "string", default: "100000" },
    embedded: { type: "boolean", default: false },
    "page-size": { type: "string", default: "500" },
    keep: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (args.help) {
  process.stdout.write(`npm run bench:sync -- [options]
  --users N       Clerk users served (default 100000)
  --embedded      PGlite in a temporary directory instead of a fresh database on BENCH_DATABASE_URL
                  (default postgres://postgres@127.0.0.1:5432/postgres; the database is created and dropped)
  --page-size N   users per request (default 500)
  --keep          keep the database (its URL is printed)
`);
  process.exit(0);
}

const USERS = Number(args.users);
const ROOT = new URL("..", import.meta.url).pathname;
const RESULTS = new URL("./results/", import.meta.url).pathname;
const log = (line: string) => process.stderr.write(`${line}\n`);

interface SyncSummary {
  status: string;
  listed: number;
  created: number;
  updated: number;
  unchanged: number;
  skipped: Record<string, number>;
  failed: Record<string, number>;
  timings: { totalMs: number; databaseMs: number; clerkWaitMs: number };
}

function runSync(env: Record<string, string>): Promise<{ wallMs: number; summary: SyncSummary; code: number | null }> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/cli/sync.ts", "--json", "--progress", "none", "--page-size", args["page-size"]],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let stdout = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code) => {
      const wallMs = performance.now() - started;
      try {
        resolve({ wallMs, summary: JSON.parse(stdout.trim().split("\n").pop() ?? "") as SyncSummary, code });
      } catch {
        reject(new Error(`sync exited ${code} without a JSON summary:\n${stdout}`));
      }
    });
  });
}

async function main() {
  log(`generating ${USERS.toLocaleString("en-US")} Clerk users …`);
  const api = await startFakeClerkApi({ cacheJson: true });
  for (let i = 0; i < USERS; i++) {
    const user = benchUser(i);
    api.users.set(user.id as string, user);
  }
  // Serialize every user once now (the cache), so that the timed runs measure the sync, not this process.
  await fetch(`${api.url}/v1/users?limit=1`, { headers: { authorization: `Bearer ${TEST_CLERK_SECRET_KEY}` } });
  for (let offset = 0; offset < USERS; offset += 500) {
    const res = await fetch(`${api.url}/v1/users?limit=500&offset=${offset}&order_by=%2Bcreated_at`, {
      headers: { authorization: `Bearer ${TEST_CLERK_SECRET_KEY}` },
    });
    await res.arrayBuffer();
  }

  let databaseEnv: Record<string, string>;
  let cleanup: () => Promise<void>;
  let describe: string;
  if (args.embedded) {
    const dir = mkdtempSync(join(tmpdir(), "bench-sync-"));
    databaseEnv = { PGLITE_DATA_DIR: join(dir, "pglite") };
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
    describe = "PGlite (embedded, in the sync's process)";
  } else {
    const adminUrl = process.env.BENCH_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres";
    const created = await createMigratedDatabase(adminUrl, "bench_sync");
    databaseEnv = { DATABASE_URL: created.url };
    describe = `PostgreSQL ${created.serverVersion} at ${new URL(created.url).host}, fresh database ${created.name}`;
    cleanup = async () => {
      if (args.keep) log(`kept ${created.url}`);
      else await created.drop();
    };
  }
  const env = { ...databaseEnv, CLERK_SECRET_KEY: TEST_CLERK_SECRET_KEY, CLERK_API_URL: api.url };
  try {
    log(
      `database: ${describe}; machine: ${cpus().length} CPUs, load ${loadavg()
        .map((n) => n.toFixed(2))
        .join(" ")}`,
    );
    const runs: { name: string; wallMs: number; summary: SyncSummary }[] = [];
    for (const name of ["first run (back-fill)", "second run (nothing to change)"]) {
      log(`${name} …`);
      const { wallMs, summary, code } = await runSync(env);
      if (code !== 0) throw new Error(`sync exited ${code}: ${JSON.stringify(summary)}`);
      runs.push({ name, wallMs, summary });
    }
    const rows = runs.map(({ name, wallMs, summary }) => {
      const t = summary.timings;
      return {
        run: name,
        users: summary.listed,
        wallSeconds: +(wallMs / 1000).toFixed(2),
        syncSeconds: +(t.totalMs / 1000).toFixed(2),
        usersPerSecond: Math.round(summary.listed / (wallMs / 1000)),
        databaseShare: +(t.databaseMs / t.totalMs).toFixed(3),
        clerkWaitShare: +(t.clerkWaitMs / t.totalMs).toFixed(3),
        created: summary.created,
        updated: summary.updated,
        unchanged: summary.unchanged,
        skipped: summary.skipped,
        failed: summary.failed,
      };
    });
    process.stdout.write(
      `\nnpm run sync: ${USERS.toLocaleString("en-US")} users from a local Clerk Backend API (${args["page-size"]} per page) into ${describe}\n\n`,
    );
    process.stdout.write(
      `${"run".padEnd(32)}${"wall s".padStart(8)}${"users/s".padStart(10)}${"in DB".padStart(8)}${"waiting Clerk".padStart(15)}   outcome\n`,
    );
    for (const r of rows) {
      process.stdout.write(
        `${r.run.padEnd(32)}${r.wallSeconds.toFixed(2).padStart(8)}${r.usersPerSecond.toLocaleString("en-US").padStart(10)}${`${(r.databaseShare * 100).toFixed(0)}%`.padStart(8)}${`${(r.clerkWaitShare * 100).toFixed(0)}%`.padStart(15)}   created ${r.created}, updated ${r.updated}, unchanged ${r.unchanged}, skipped ${JSON.stringify(r.skipped)}, failed ${JSON.stringify(r.failed)}\n`,
      );
    }
    process.stdout.write(
      "\nwall s: the whole child process (start-up, migration check, listing, writes, summary). in DB: share of the sync's\n" +
        "time spent waiting for the database; waiting Clerk: waiting for a page (the next page is fetched while one is written).\n",
    );
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(
      join(RESULTS, "sync-latest.json"),
      `${JSON.stringify({ at: new Date().toISOString(), users: USERS, database: describe, cpus: cpus().length, load: loadavg(), rows }, null, 2)}\n`,
    );
  } finally {
    await cleanup();
    await api.close();
  }
}

main().catch((error: unknown) => {
  log(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
