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
import { startFakeClerkApi, TEST_CLERK_SECRET_KEY } from "../support/fake-clerk-api.js";
import { createMigratedDatabase } from "../support/migrated-database.js";
import { benchMembership, benchOrganization, benchSubscriptionItem, benchUser } from "./sync-workload.js";

const { values: args } = parseArgs({
  options: {
    users: { type: "string", default: "100000" },
    organizations: { type: "string", default: "0" },
    memberships: { type: "string", default: "0" },
    "subscription-items": { type: "string", default: "0" },
    embedded: { type: "boolean", default: false },
    "page-size": { type: "string", default: "500" },
    latency: { type: "string", default: "0" },
    "rate-limit": { type: "string", default: "1000" },
    rate: { type: "string" },
    concurrency: { type: "string" },
    incremental: { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
    "cpu-prof": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (args.help) {
  process.stdout.write(`npm run bench:sync -- [options]
  --users N       Clerk users served (default 100000)
  --organizations N  Clerk organizations served too (default 0: the users-only run)
  --memberships N    organization memberships served (default 0; needs --organizations), spread over the users
  --subscription-items N  Clerk Billing items served (default 0), over the users: a default plan's, every third an upgrade's
  --embedded      PGlite in a temporary directory instead of a fresh database on BENCH_DATABASE_URL
                  (default postgres://postgres@127.0.0.1:5432/postgres; the database is created and dropped)
  --page-size N   users per request (default 500)
  --latency MS    the fake API answers each request after MS milliseconds (default 0; Clerk takes 100–300)
  --rate-limit N  the fake API accepts N requests per 10 s, refusing more with 429 + Retry-After (default 1000,
                  a production instance's; 0: no limit)
  --rate N        the sync's --rate (default: 90 % of --rate-limit; with --rate-limit 0 the sync's own default)
  --concurrency N the sync's --concurrency (default: its own)
  --incremental   the sync's --incremental (the scheduled reconcile's listing), and a third run after 10 users
                  changed in Clerk
  --keep          keep the database (its URL is printed)
  --cpu-prof      each sync writes a V8 CPU profile to bench/results/
`);
  process.exit(0);
}

const USERS = Number(args.users);
const ORGANIZATIONS = Number(args.organizations);
const MEMBERSHIPS = ORGANIZATIONS > 0 ? Number(args.memberships) : 0;
const ITEMS = Number(args["subscription-items"]);
const RATE_LIMIT = Number(args["rate-limit"]);
const WINDOW_MS = 10_000;
const syncArgs = [
  "--page-size",
  args["page-size"],
  ...(args.rate ? ["--rate", args.rate] : RATE_LIMIT > 0 ? ["--rate", String(Math.floor(RATE_LIMIT * 0.9))] : []),
  ...(args.concurrency ? ["--concurrency", args.concurrency] : []),
  ...(args.incremental ? ["--incremental"] : []),
];
const RUNS = ["first run (back-fill)", "second run (nothing to change)"];
const CHANGED = 10;
if (args.incremental) RUNS.push(`third run (${CHANGED} users changed)`);
const ROOT = new URL("..", import.meta.url).pathname;
const RESULTS = new URL("./results/", import.meta.url).pathname;
const log = (line: string) => process.stderr.write(`${line}\n`);

interface KindSummary {
  listed: number;
  created: number;
  updated: number;
  unchanged: number;
  skipped: Record<string, number>;
  failed: Record<string, number>;
}

/** The users' counts at the top level, each other kind's under its name. */
interface SyncSummary extends KindSummary {
  organizations: KindSummary | null;
  memberships: KindSummary | null;
  subscriptionItems: KindSummary | null;
  status: string;
  timings: { totalMs: number; databaseMs: number; clerkWaitMs: number };
}

function runSync(
  env: Record<string, string>,
): Promise<{ wallMs: number; endedAt: number; summary: SyncSummary; code: number | null }> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      ...(args["cpu-prof"] ? ["--cpu-prof", `--cpu-prof-dir=${join(ROOT, "bench", "results")}`] : []),
      "--import",
      "tsx",
      "src/bin/sync.ts",
      "--json",
      "--progress",
      "none",
      ...syncArgs,
    ],
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
      const endedAt = performance.now();
      const wallMs = endedAt - started;
      try {
        resolve({ wallMs, endedAt, summary: JSON.parse(stdout.trim().split("\n").pop() ?? "") as SyncSummary, code });
      } catch {
        reject(new Error(`sync exited ${code} without a JSON summary:\n${stdout}`));
      }
    });
  });
}

interface RequestStats {
  count: number;
  per10s: number;
  peakPer10s: number;
  refused: number;
  peakInFlight: number;
}

/** Arrival times (ms, ascending) → the rate reached and the most requests in any window of Clerk's 10 s. */
function requestStats(arrivals: number[], refused: number, peakInFlight: number): RequestStats {
  let peak = 0;
  for (let start = 0, end = 0; end < arrivals.length; end++) {
    while ((arrivals[start] as number) <= (arrivals[end] as number) - WINDOW_MS) start++;
    peak = Math.max(peak, end - start + 1);
  }
  const spanMs = arrivals.length > 1 ? (arrivals.at(-1) as number) - (arrivals[0] as number) : 0;
  const per10s = spanMs > 0 ? Math.round(((arrivals.length - 1) / spanMs) * WINDOW_MS) : arrivals.length;
  return { count: arrivals.length, per10s, peakPer10s: peak, refused, peakInFlight };
}

const PHASE_PATHS = {
  organizations: "/v1/organizations",
  memberships: "/v1/organization_memberships",
  subscriptionItems: "/v1/billing/subscription_items",
} as const;
type Phase = keyof typeof PHASE_PATHS;
const PHASES = Object.keys(PHASE_PATHS) as Phase[];

interface PhaseStats {
  phase: Phase;
  /** From the phase's first request to the next phase's (or the process's end). */
  wallSeconds: number;
  pages: number;
  per10s: number;
  peakPer10s: number;
}

/**
 * The organization and membership phases of one run, told apart by the path each lists; `endAt` (the process's
 * exit on the fake API's clock) ends the last.
 */
function phaseStats(requests: { path: string; at: number }[], endAt: number): PhaseStats[] {
  const firstOf = (path: string) => requests.find((r) => r.path === path)?.at;
  return PHASES.flatMap((phase, i) => {
    const from = firstOf(PHASE_PATHS[phase]);
    if (from === undefined) return [];
    const next = PHASES.slice(i + 1).map((later) => firstOf(PHASE_PATHS[later]));
    const until = next.find((at) => at !== undefined) ?? endAt;
    const arrivals = requests.filter((r) => r.path === PHASE_PATHS[phase]).map((r) => r.at);
    const stats = requestStats(arrivals, 0, 0);
    return [
      {
        phase,
        wallSeconds: +((until - from) / 1000).toFixed(2),
        pages: arrivals.length,
        per10s: stats.per10s,
        peakPer10s: stats.peakPer10s,
      },
    ];
  });
}

function printPhases(rows: ({ run: string; phases: PhaseStats[] } & Record<Phase, KindSummary | null>)[]) {
  process.stdout.write(
    `\n${"phase".padEnd(46)}${"wall s".padStart(8)}${"pages".padStart(7)}${"rows/s".padStart(9)}${"req/10s".padStart(9)}${"peak/10s".padStart(10)}   outcome\n`,
  );
  for (const row of rows) {
    for (const p of row.phases) {
      const summary = row[p.phase];
      const listed = summary?.listed ?? 0;
      process.stdout.write(
        `${`${row.run}: ${p.phase}`.padEnd(46)}${p.wallSeconds.toFixed(2).padStart(8)}${String(p.pages).padStart(7)}${Math.round(
          listed / Math.max(p.wallSeconds, 0.001),
        )
          .toLocaleString("en-US")
          .padStart(
            9,
          )}${String(p.per10s).padStart(9)}${String(p.peakPer10s).padStart(10)}   created ${summary?.created}, updated ${summary?.updated}, unchanged ${summary?.unchanged}, skipped ${JSON.stringify(summary?.skipped)}, failed ${JSON.stringify(summary?.failed)}\n`,
      );
    }
  }
}

/** `n` users updated in Clerk now (new objects: the JSON cache is per object). */
function changeUsers(users: Map<string, Record<string, unknown>>, n: number) {
  const now = Date.now();
  for (const [j, user] of [...users.values()].slice(0, n).entries()) {
    users.set(user.id as string, { ...user, first_name: "Changed", updated_at: now + j });
  }
}

async function main() {
  log(`generating ${USERS.toLocaleString("en-US")} Clerk users …`);
  // The fake API's clock (its requests' `at`) starts about now: the phases end when the sync's process does.
  const apiStartedAt = performance.now();
  const api = await startFakeClerkApi({ cacheJson: true });
  for (let i = 0; i < USERS; i++) {
    const user = benchUser(i);
    api.users.set(user.id as string, user);
  }
  const organizations = Array.from({ length: ORGANIZATIONS }, (_, i) => benchOrganization(i));
  for (const organization of organizations) api.organizations.set(organization.id as string, organization);
  const userIds = [...api.users.keys()];
  for (let i = 0; i < MEMBERSHIPS; i++) {
    const membership = benchMembership(i, organizations, userIds);
    api.memberships.set(membership.id as string, membership);
  }
  for (let i = 0; i < ITEMS; i++) {
    const item = benchSubscriptionItem(i, userIds);
    api.subscriptionItems.set(item.id as string, item);
  }
  if (ORGANIZATIONS > 0) {
    log(
      `… and ${ORGANIZATIONS.toLocaleString("en-US")} organizations, ${MEMBERSHIPS.toLocaleString("en-US")} memberships`,
    );
  }
  // Serialize everything once now (the cache), so that the timed runs measure the sync, not this process.
  for (const [path, count] of [
    ["/v1/users", USERS],
    ["/v1/organizations", ORGANIZATIONS],
    ["/v1/organization_memberships", MEMBERSHIPS],
    ["/v1/billing/subscription_items", ITEMS],
  ] as const) {
    for (let offset = 0; offset < count; offset += 500) {
      const res = await fetch(`${api.url}${path}?limit=500&offset=${offset}&order_by=%2Bcreated_at&include_free=true`, {
        headers: { authorization: `Bearer ${TEST_CLERK_SECRET_KEY}` },
      });
      await res.arrayBuffer();
    }
  }
  api.latencyMs = Number(args.latency);
  if (RATE_LIMIT > 0) api.rateLimit = { requests: RATE_LIMIT, windowMs: WINDOW_MS };

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
      if (!args.keep) return created.drop();
      log(`kept ${created.url}`);
      await created.keep();
    };
  }
  const env = { ...databaseEnv, CLERK_SECRET_KEY: TEST_CLERK_SECRET_KEY, CLERK_API_URL: api.url };
  try {
    log(
      `database: ${describe}; machine: ${cpus().length} CPUs, load ${loadavg()
        .map((n) => n.toFixed(2))
        .join(" ")}`,
    );
    const runs: {
      name: string;
      wallMs: number;
      summary: SyncSummary;
      requests: RequestStats;
      phases: PhaseStats[];
    }[] = [];
    for (const [i, name] of RUNS.entries()) {
      log(`${name} …`);
      if (i === 2) changeUsers(api.users, CHANGED);
      const before = { requests: api.requests.length, refused: api.refused };
      api.peakInFlight = 0;
      const { wallMs, endedAt, summary, code } = await runSync(env);
      if (code !== 0) throw new Error(`sync exited ${code}: ${JSON.stringify(summary)}`);
      const requests = requestStats(
        api.requests.slice(before.requests).map((r) => r.at),
        api.refused - before.refused,
        api.peakInFlight,
      );
      const phases = phaseStats(api.requests.slice(before.requests), endedAt - apiStartedAt);
      runs.push({ name, wallMs, summary, requests, phases });
    }
    const rows = runs.map(({ name, wallMs, summary, requests, phases }) => {
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
        requests,
        organizations: summary.organizations,
        memberships: summary.memberships,
        subscriptionItems: summary.subscriptionItems,
        phases,
      };
    });
    process.stdout.write(
      `\nnpm run sync ${syncArgs.join(" ")}: ${USERS.toLocaleString("en-US")} users from a local Clerk Backend API (latency ${args.latency} ms, limit ${RATE_LIMIT > 0 ? `${RATE_LIMIT} requests / 10 s` : "none"}) into ${describe}\n\n`,
    );
    process.stdout.write(
      `${"run".padEnd(32)}${"wall s".padStart(8)}${"users/s".padStart(10)}${"in DB".padStart(8)}${"waiting Clerk".padStart(15)}${"req".padStart(6)}${"req/10s".padStart(9)}${"peak/10s".padStart(10)}${"refused".padStart(9)}${"in flight".padStart(11)}   outcome\n`,
    );
    for (const r of rows) {
      const q = r.requests;
      process.stdout.write(
        `${r.run.padEnd(32)}${r.wallSeconds.toFixed(2).padStart(8)}${r.usersPerSecond.toLocaleString("en-US").padStart(10)}${`${(r.databaseShare * 100).toFixed(0)}%`.padStart(8)}${`${(r.clerkWaitShare * 100).toFixed(0)}%`.padStart(15)}${String(q.count).padStart(6)}${String(q.per10s).padStart(9)}${String(q.peakPer10s).padStart(10)}${String(q.refused).padStart(9)}${String(q.peakInFlight).padStart(11)}   created ${r.created}, updated ${r.updated}, unchanged ${r.unchanged}, skipped ${JSON.stringify(r.skipped)}, failed ${JSON.stringify(r.failed)}\n`,
      );
    }
    if (ORGANIZATIONS > 0 || ITEMS > 0) printPhases(rows);
    process.stdout.write(
      "\nwall s: the whole child process (start-up, migration check, listing, writes, summary). in DB: share of the sync's\n" +
        "time spent waiting for the database; waiting Clerk: waiting for the next page to apply. req: HTTP requests the\n" +
        "fake API received (a page is two: the list and its count); req/10s: their average rate from the first to the last;\n" +
        "peak/10s: the most in any 10 s; refused: answered 429 by the fake's rate limit; in flight: the most at once.\n",
    );
    mkdirSync(RESULTS, { recursive: true });
    const file =
      ITEMS > 0
        ? "sync-subscription-items-latest.json"
        : ORGANIZATIONS > 0
          ? "sync-organizations-latest.json"
          : "sync-latest.json";
    writeFileSync(
      join(RESULTS, file),
      `${JSON.stringify({ at: new Date().toISOString(), users: USERS, organizations: ORGANIZATIONS, memberships: MEMBERSHIPS, subscriptionItems: ITEMS, database: describe, cpus: cpus().length, load: loadavg(), rows }, null, 2)}\n`,
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
