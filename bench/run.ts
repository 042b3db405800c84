import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { PGlite } from "@electric-sql/pglite";
import postgres from "postgres";
import { createMigratedDatabase } from "../support/migrated-database.js";
import { batchesBetween, readBatchCounts } from "./batch-sizes.js";
import { ceilingStatement, type DirectDb, pgliteDirect, postgresDirect, runDirectLoad } from "./ceiling.js";
import { type LoadResult, runHttpLoad } from "./http-load.js";
import { buildBenchServer, buildService, type RunningService, readCpuMs, startService } from "./service.js";
import {
  BENCH_SECRET,
  createdDeliveries,
  createdDeliveryStream,
  createSigner,
  type Delivery,
  duplicatedDeliveries,
  mixedDeliveries,
  signedRequest,
} from "./workload.js";

const { values: args } = parseArgs({
  options: {
    embedded: { type: "boolean", default: false },
    seconds: { type: "string", default: "8" },
    deliveries: { type: "string", default: "15000" },
    concurrency: { type: "string", default: "1,16,64" },
    pool: { type: "string", default: "20" },
    soak: { type: "string", default: "0" },
    quick: { type: "boolean", default: false },
    "skip-naive": { type: "boolean", default: false },
    "skip-extra": { type: "boolean", default: false },
    "cpu-prof": { type: "boolean", default: false },
    "skip-lean": { type: "boolean", default: false },
    pooler: { type: "boolean", default: false },
    starts: { type: "string", default: "3" },
    "log-level": { type: "string", default: "info" },
    "node-args": { type: "string", default: "" },
    help: { type: "boolean", default: false },
  },
});

if (args.help) {
  process.stdout.write(`npm run bench -- [options]
  --embedded            PGlite in the service's process instead of BENCH_DATABASE_URL
  --seconds N           time bound of each step (default 8; --quick: 3)
  --deliveries N        distinct pre-signed deliveries per step, at most (default 15000; --quick: 4000)
  --concurrency 1,16,64 requests in flight per step
  --pool N              the service's DATABASE_POOL_MAX and the ceiling's pool size (default 20)
  --soak N              then N seconds at concurrency 64 on the service, sampling its RSS every second
  --skip-naive          no comparator rows     --skip-extra   no duplicate-heavy and mixed runs
  --cpu-prof            the service writes a V8 CPU profile to bench/results/ on exit
  --skip-lean           no lean rows (a bare server on the same stack: Hono, svix verify, the same statement)
  --pooler              also the service and the ceiling through a transaction pooler (BENCH_POOLER_URL, default
                        postgres://postgres@127.0.0.1:6543/postgres: .ci/pgbouncer.ini)
  --starts N            process start to /health 200, N times each on PostgreSQL and PGlite, compiled and with
                        the tsx loader (as npm start ran before); 0: none (default 3)
  --log-level L         the service's LOG_LEVEL (default info: one line per delivery, as in production)
  --node-args="…"       extra Node.js flags for the service (experiments: --node-args=--max-semi-space-size=4)
`);
  process.exit(0);
}

const SECONDS = Number(args.quick ? "3" : args.seconds);
const PER_STEP = Number(args.quick ? "4000" : args.deliveries);
const CONCURRENCY = args.concurrency.split(",").map(Number);
const POOL = Number(args.pool);
const SOAK_SECONDS = Number(args.soak);
const STARTS = Number(args.starts);
const BURST = 1000;
const HOST = "127.0.0.1";
const RESULTS = new URL("./results/", import.meta.url).pathname;
const sign = createSigner(BENCH_SECRET);
const log = (line: string) => process.stderr.write(`${line}\n`);

interface Row {
  run: string;
  path: "ceiling" | "service" | "naive" | "lean";
  concurrency: number;
  sent: number;
  completed: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
  nonOk: number;
  failures: LoadResult["failures"];
  outcomes: Record<string, number>;
  /** Deliveries per second against the ceiling's, same run and concurrency. */
  ratio?: number;
  serviceRssMb?: number;
  /** The service's coalesced batches in this step: mean deliveries per batch, and the bucket of the largest. */
  batches?: { mean: number; largestUpTo: string };
  /**
   * CPU time per delivery, in µs: this process (the HTTP load generator, or the ceiling's postgres.js client), the
   * service process, and the PostgreSQL backends of the benchmark's database (local server only).
   */
  cpuUs: { client: number; service?: number; postgres?: number };
  /** WAL flushes and bytes per delivery (server-wide counters, so other work on the server is included). */
  wal?: { flushes: number; bytes: number };
}

/** What every sent delivery should have left behind: one user and one workspace, or nothing for a deleted one. */
interface Expectation {
  label: string;
  database: "service" | "naive" | "ceiling" | "lean";
  live: Set<string>;
  deleted: Set<string>;
  svixIds: Set<string>;
}

const rows: Row[] = [];
const expectations: Expectation[] = [];

function summarise(
  run: string,
  path: Row["path"],
  concurrency: number,
  result: LoadResult,
  service: RunningService | undefined,
  cpuMs: CpuSpent,
  batches?: Row["batches"],
): Row {
  const sorted = Float64Array.from(result.latencies).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  const row: Row = {
    run,
    path,
    concurrency,
    sent: result.sent,
    completed: result.completed,
    perSecond: result.completed / result.seconds,
    p50: at(0.5),
    p99: at(0.99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    nonOk: result.nonOk,
    failures: result.failures,
    outcomes: result.outcomes,
    serviceRssMb: service?.memory().peakMb,
    batches,
    cpuUs: perDelivery(cpuMs, result.completed),
    wal: walPerDelivery(cpuMs, result.completed),
  };
  const ceiling = rows.find((r) => r.run === run && r.path === "ceiling" && r.concurrency === concurrency);
  if (ceiling && path !== "ceiling") row.ratio = row.perSecond / ceiling.perSecond;
  rows.push(row);
  log(
    `  ${run.padEnd(10)} ${path.padEnd(8)} c=${String(concurrency).padEnd(3)} ${row.perSecond.toFixed(0).padStart(6)}/s` +
      ` p50 ${row.p50.toFixed(2)} p99 ${row.p99.toFixed(2)} max ${row.max.toFixed(1)} ms, non-2xx ${row.nonOk}` +
      (row.ratio === undefined ? "" : `, ${(row.ratio * 100).toFixed(0)} % of ceiling`) +
      (batches ? `, batches of ${batches.mean.toFixed(1)} on average (largest ≤ ${batches.largestUpTo})` : "") +
      `, CPU µs each: ${Object.entries(row.cpuUs)
        .map(([k, v]) => `${k} ${v?.toFixed(0)}`)
        .join(", ")}` +
      (row.wal ? `; WAL flushes/delivery ${row.wal.flushes.toFixed(2)}, ${row.wal.bytes.toFixed(0)} B` : "") +
      (Object.keys(row.failures).length ? ` ${JSON.stringify(row.failures)}` : ""),
  );
  return row;
}

/** Records which users the sent prefix of `deliveries` must have left (created/updated → live, deleted → gone). */
function expect(label: string, database: Expectation["database"], deliveries: Delivery[], sent: number) {
  const live = new Set<string>();
  const deleted = new Set<string>();
  const svixIds = new Set<string>();
  for (const delivery of deliveries.slice(0, sent)) {
    svixIds.add(delivery.svixId);
    if (delivery.type === "user.deleted") deleted.add(delivery.userId);
    else live.add(delivery.userId);
  }
  for (const id of deleted) live.delete(id);
  expectations.push({ label, database, live, deleted, svixIds });
}

interface CpuSpent {
  client: number;
  service?: number;
  postgres?: number;
  /** WAL flushes (fdatasync) and bytes, server-wide (other databases' work included). */
  wal?: { syncs: number; bytes: number };
}

/** Lists the PostgreSQL backends of the benchmark's database (set once it exists; local server only). */
let postgresBackends: (() => Promise<number[]>) | undefined;
/** pg_stat_wal's counters (local server only, like the above). */
let walCounters: (() => Promise<{ syncs: number; bytes: number }>) | undefined;

async function postgresCpuMs(): Promise<Map<number, number> | undefined> {
  if (!postgresBackends) return undefined;
  const cpu = new Map<number, number>();
  for (const pid of await postgresBackends()) {
    try {
      cpu.set(pid, readCpuMs(pid));
    } catch {
      // gone, or not on this machine
    }
  }
  return cpu;
}

/** Starts measuring CPU time; the returned function stops and answers what each party spent, in ms. */
function startCpu(service: RunningService | undefined): () => Promise<CpuSpent> {
  const client = process.cpuUsage();
  const serviceBefore = service?.cpuMs();
  const postgresBefore = postgresCpuMs();
  const walBefore = walCounters?.();
  return async () => {
    const spent = process.cpuUsage(client);
    const before = await postgresBefore;
    const after = await postgresCpuMs();
    let postgres: number | undefined;
    if (before && after && after.size > 0) {
      postgres = 0;
      for (const [pid, ms] of after) postgres += ms - (before.get(pid) ?? 0);
    }
    const walStart = await walBefore;
    const walEnd = await walCounters?.();
    const wal =
      walStart && walEnd ? { syncs: walEnd.syncs - walStart.syncs, bytes: walEnd.bytes - walStart.bytes } : undefined;
    return {
      client: (spent.user + spent.system) / 1000,
      service: service && serviceBefore !== undefined ? service.cpuMs() - serviceBefore : undefined,
      postgres,
      wal,
    };
  };
}

const perDelivery = (spent: CpuSpent, count: number) => {
  const us = (ms: number | undefined) => (ms === undefined ? undefined : (ms * 1000) / Math.max(1, count));
  return { client: us(spent.client) ?? 0, service: us(spent.service), postgres: us(spent.postgres) };
};

const walPerDelivery = (spent: CpuSpent, count: number) =>
  spent.wal && { flushes: spent.wal.syncs / Math.max(1, count), bytes: spent.wal.bytes / Math.max(1, count) };

async function overHttp(
  service: RunningService,
  run: string,
  path: "service" | "naive" | "lean",
  concurrency: number,
  deliveries: Delivery[],
  options: { record?: boolean } = {},
): Promise<LoadResult> {
  const now = Date.now();
  const requests = deliveries.map((delivery) => signedRequest(sign, `${HOST}:${service.port}`, delivery, now));
  const batchesBefore = path === "service" ? await readBatchCounts(HOST, service.port) : undefined;
  const cpu = startCpu(service);
  const result = await runHttpLoad({
    port: service.port,
    host: HOST,
    concurrency,
    seconds: SECONDS,
    count: requests.length,
    request: (i) => requests[i] as Buffer,
  });
  expect(`${path} ${run} c=${concurrency}`, path, deliveries, result.sent);
  const spent = await cpu();
  const batches = batchesBefore && batchesBetween(batchesBefore, await readBatchCounts(HOST, service.port));
  if (options.record !== false) summarise(run, path, concurrency, result, service, spent, batches);
  return result;
}

async function direct(db: DirectDb, run: string, concurrency: number, deliveries: Delivery[], record = true) {
  const statements = deliveries.map(ceilingStatement);
  const cpu = startCpu(undefined);
  const result = await runDirectLoad({ db, statements, concurrency, seconds: SECONDS });
  const spent = await cpu();
  expect(`ceiling ${run} c=${concurrency}`, "ceiling", deliveries, result.sent);
  if (record) summarise(run, "ceiling", concurrency, result, undefined, spent);
  return result;
}

type Query = (text: string, params: unknown[]) => Promise<Record<string, unknown>[]>;

async function verify(query: Query, expectation: Expectation) {
  const live = [...expectation.live];
  const deleted = [...expectation.deleted];
  const [counts] = await query(
    `SELECT (SELECT count(*)::int FROM users WHERE id = ANY($1::text[])) AS users,
            (SELECT count(*)::int FROM workspaces WHERE user_id = ANY($1::text[])) AS workspaces,
            (SELECT count(*)::int FROM users WHERE id = ANY($2::text[])) AS deleted_users,
            (SELECT count(*)::int FROM workspaces WHERE user_id = ANY($2::text[])) AS deleted_workspaces,
            (SELECT count(*)::int FROM clerk_deliveries WHERE delivery_id = ANY($3::text[])) AS deliveries`,
    [live, deleted, [...expectation.svixIds]],
  );
  const ok =
    counts?.users === live.length &&
    counts?.workspaces === live.length &&
    counts?.deleted_users === 0 &&
    counts?.deleted_workspaces === 0 &&
    counts?.deliveries === expectation.svixIds.size;
  return {
    label: expectation.label,
    ok,
    expected: { users: live.length, deliveries: expectation.svixIds.size },
    counts,
  };
}

async function globalInvariants(query: Query) {
  const [row] = await query(
    `SELECT (SELECT count(*)::int FROM users u WHERE NOT EXISTS (SELECT 1 FROM workspaces w WHERE w.user_id = u.id))
              AS users_without_workspace,
            (SELECT count(*)::int FROM (SELECT user_id FROM workspaces GROUP BY user_id HAVING count(*) > 1) x)
              AS users_with_several_workspaces`,
    [],
  );
  return row;
}

/** A service row's deliveries per second against the lean server's, same run and concurrency. */
function vsLean(row: Row): string {
  const lean = rows.find((r) => r.path === "lean" && r.run === row.run && r.concurrency === row.concurrency);
  return row.path === "service" && lean ? `${((row.perSecond / lean.perSecond) * 100).toFixed(0)} %` : "—";
}

interface StartTimes {
  how: "node dist/main.js" | "node --import tsx src/main.ts";
  database: "postgres" | "pglite";
  ms: number[];
  restingRssMb: number[];
}

/**
 * Process start to the first 200 from /health, STARTS times each: compiled as `npm start` runs it now, and with the
 * tsx loader as it ran before; on the benchmark's PostgreSQL database and on a PGlite directory migrated beforehand.
 */
async function measureStarts(postgresUrl: string | undefined): Promise<StartTimes[]> {
  const dir = mkdtempSync(join(tmpdir(), "clerk-provisioner-starts-"));
  const results: StartTimes[] = [];
  try {
    const targets: [StartTimes["database"], Record<string, string>][] = [
      ...(postgresUrl
        ? [["postgres", { DATABASE_URL: postgresUrl }] as [StartTimes["database"], Record<string, string>]]
        : []),
      ["pglite", { DATABASE_URL: "", PGLITE_DATA_DIR: join(dir, "pglite") }],
    ];
    const hows = [
      { how: "node dist/main.js" as const, entry: "dist/main.js", loader: undefined },
      { how: "node --import tsx src/main.ts" as const, entry: "src/main.ts", loader: "tsx" as const },
    ];
    await (
      await startService({ entry: "dist/main.js", env: { DATABASE_URL: "", PGLITE_DATA_DIR: join(dir, "pglite") } })
    ).stop();
    for (const [database, env] of targets) {
      for (const { how, entry, loader } of hows) {
        const result: StartTimes = { how, database, ms: [], restingRssMb: [] };
        for (let i = 0; i < STARTS; i++) {
          const started = await startService({ entry, env: { ...env, LOG_LEVEL: "warn" }, loader });
          result.ms.push(started.startMs);
          result.restingRssMb.push(started.memory().rssMb);
          await started.stop();
        }
        results.push(result);
        log(`  start ${how.padEnd(30)} ${database.padEnd(8)} ${result.ms.map((ms) => ms.toFixed(0)).join(", ")} ms`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

function startsTable(starts: StartTimes[]): string {
  return [
    "| start (process → /health 200)    | database | median ms | runs ms | RSS at rest MB |",
    "|----------------------------------|----------|-----------|---------|----------------|",
    ...starts.map(
      (s) =>
        `| ${s.how.padEnd(32)} | ${s.database.padEnd(8)} | ${median(s.ms).toFixed(0).padStart(9)} | ` +
        `${s.ms.map((ms) => ms.toFixed(0)).join(", ")} | ${median(s.restingRssMb).toFixed(0).padStart(14)} |`,
    ),
  ].join("\n");
}

const format = (n: number | undefined, digits = 2) => (n === undefined || Number.isNaN(n) ? "—" : n.toFixed(digits));

function table(): string {
  const header = [
    "run",
    "path",
    "conc",
    "sent",
    "deliv/s",
    "p50 ms",
    "p99 ms",
    "max ms",
    "non-2xx",
    "vs ceiling",
    "vs lean",
    "batch mean",
    "CPU µs/deliv: client",
    "service",
    "postgres",
  ];
  const lines = rows.map((r) => [
    r.run,
    r.path,
    String(r.concurrency),
    String(r.sent),
    r.perSecond.toFixed(0),
    format(r.p50),
    format(r.p99),
    format(r.max, 1),
    r.path === "ceiling" ? "—" : String(r.nonOk),
    r.ratio === undefined ? "—" : `${(r.ratio * 100).toFixed(0)} %`,
    vsLean(r),
    r.batches ? `${format(r.batches.mean, 1)} (≤ ${r.batches.largestUpTo})` : "—",
    r.cpuUs.client.toFixed(0),
    r.cpuUs.service === undefined ? "—" : r.cpuUs.service.toFixed(0),
    r.cpuUs.postgres === undefined ? "—" : r.cpuUs.postgres.toFixed(0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
  const render = (cells: string[]) =>
    `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ")} |`;
  return [render(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...lines.map(render)].join("\n");
}

async function main() {
  const startedAt = new Date();
  const machine = { cpus: cpus().length, loadavgAtStart: loadavg().map((l) => Number(l.toFixed(2))) };
  mkdirSync(RESULTS, { recursive: true });
  const embedded = args.embedded;
  const adminUrl = process.env.BENCH_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres";
  log(
    `clerk-provisioner bench: ${embedded ? "embedded PGlite" : adminUrl.replace(/:[^:@/]*@/, ":…@")}, ` +
      `steps of ≤ ${SECONDS} s / ≤ ${PER_STEP} deliveries, concurrency ${CONCURRENCY.join(", ")}, pool ${POOL}; ` +
      `${machine.cpus} CPUs, load ${machine.loadavgAtStart.join(" ")}`,
  );

  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const step of cleanups.reverse()) await step().catch((error) => log(`clean-up: ${error}`));
  };
  process.once("SIGINT", () => {
    void cleanup().finally(() => process.exit(130));
  });

  try {
    // Databases: one real one shared by service, comparator and ceiling; or a PGlite per process.
    let serviceEnv: (name: Expectation["database"]) => Record<string, string>;
    let adminDatabaseUrl: string | undefined;
    let queries: Record<Expectation["database"], () => Promise<{ query: Query; close(): Promise<void> }>>;
    let ceilingDb: DirectDb;
    let database: { kind: string; version: string };
    if (embedded) {
      const dataRoot = mkdtempSync(join(tmpdir(), "clerk-provisioner-bench-"));
      cleanups.push(async () => rmSync(dataRoot, { recursive: true, force: true }));
      serviceEnv = (name) => ({ PGLITE_DATA_DIR: join(dataRoot, `pglite-${name}`), DATABASE_URL: "" });
      ceilingDb = await pgliteDirect(join(dataRoot, "pglite-ceiling"));
      const ceilingRef = ceilingDb;
      const openDir = (dir: string) => async () => {
        const client = new PGlite(join(dataRoot, dir));
        return {
          query: async (text: string, params: unknown[]) =>
            (await client.query<Record<string, unknown>>(text, params)).rows,
          close: () => client.close(),
        };
      };
      queries = {
        service: openDir("pglite-service"),
        naive: openDir("pglite-naive"),
        lean: openDir("pglite-lean"),
        ceiling: async () => ({ query: (text, params) => ceilingRef.run(text, params), close: async () => {} }),
      };
      database = { kind: "pglite", version: "embedded" };
    } else {
      const created = await createMigratedDatabase(adminUrl, "bench");
      cleanups.push(created.drop);
      log(`  database ${created.name} (PostgreSQL ${created.serverVersion})`);
      serviceEnv = () => ({ DATABASE_URL: created.url, DATABASE_POOL_MAX: String(POOL) });
      adminDatabaseUrl = created.url;
      const observer = postgres(adminUrl, { max: 1, onnotice: () => {} });
      cleanups.push(() => observer.end());
      walCounters = async () => {
        const [row] = await observer<{ syncs: string; bytes: string }[]>`
          SELECT wal_sync::text AS syncs, wal_bytes::text AS bytes FROM pg_stat_wal`;
        return { syncs: Number(row?.syncs ?? 0), bytes: Number(row?.bytes ?? 0) };
      };
      postgresBackends = async () =>
        (await observer<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = ${created.name}`).map(
          (row) => row.pid,
        );
      ceilingDb = postgresDirect(serviceEnv("ceiling"));
      const open = async () => {
        const client = postgres(created.url, { max: 1, onnotice: () => {} });
        return {
          query: (text: string, params: unknown[]) =>
            client.unsafe(text, params as postgres.ParameterOrJSON<never>[]) as unknown as Promise<
              Record<string, unknown>[]
            >,
          close: () => client.end(),
        };
      };
      queries = { service: open, naive: open, ceiling: open, lean: open };
      database = { kind: "postgres", version: created.serverVersion };
    }
    cleanups.push(() => ceilingDb.close());

    const nodeArgs = [
      ...(args["cpu-prof"] ? ["--cpu-prof", `--cpu-prof-dir=${RESULTS}`] : []),
      ...args["node-args"].split(" ").filter(Boolean),
    ];
    buildService();
    const starts = STARTS > 0 ? await measureStarts(adminDatabaseUrl) : undefined;
    const service = await startService({
      entry: "dist/main.js",
      env: { ...serviceEnv("service"), LOG_LEVEL: args["log-level"] },
      nodeArgs,
    });
    cleanups.push(() => service.stop());
    log(`  service pid ${service.pid} on :${service.port}, RSS ${service.memory().rssMb.toFixed(0)} MB at rest`);

    // Warm-up (not in the table): JIT, pool connections, prepared statements, on both paths.
    await overHttp(service, "warm-up", "service", 64, createdDeliveries("w", 1500), { record: false });
    await direct(ceilingDb, "warm-up", 64, createdDeliveries("x", 1500), false);

    let serviceRssAt64: number | undefined;
    for (const concurrency of CONCURRENCY) {
      await direct(ceilingDb, "created", concurrency, createdDeliveries(`c${concurrency}c`, PER_STEP));
      await overHttp(service, "created", "service", concurrency, createdDeliveries(`c${concurrency}s`, PER_STEP));
      if (concurrency === 64) serviceRssAt64 = service.memory().peakMb;
    }

    // A burst: a thousand deliveries at once, 64 in flight (a replay, an import, Svix's retry wave after an outage).
    await direct(ceilingDb, "burst", 64, createdDeliveries("bc", BURST));
    await overHttp(service, "burst", "service", 64, createdDeliveries("bs", BURST));

    if (!args["skip-extra"]) {
      const distinct = Math.floor(PER_STEP / 3);
      await direct(ceilingDb, "dup×3", 16, duplicatedDeliveries("dc", distinct, 3));
      await overHttp(service, "dup×3", "service", 16, duplicatedDeliveries("ds", distinct, 3));
      const mixedUsers = Math.floor(PER_STEP / 2.4);
      await direct(ceilingDb, "mixed", 16, mixedDeliveries("mc", mixedUsers).deliveries);
      await overHttp(service, "mixed", "service", 16, mixedDeliveries("ms", mixedUsers).deliveries);
    }

    let soak: Record<string, unknown> | undefined;
    if (SOAK_SECONDS > 0) {
      log(`  soak: ${SOAK_SECONDS} s at concurrency 64 …`);
      const stream = createdDeliveryStream("k");
      const samples: { s: number; rssMb: number }[] = [];
      const started = Date.now();
      const sampler = setInterval(
        () => samples.push({ s: (Date.now() - started) / 1000, rssMb: service.memory().rssMb }),
        1000,
      );
      const sent: Delivery[] = [];
      const cpu = startCpu(service);
      const result = await runHttpLoad({
        port: service.port,
        host: HOST,
        concurrency: 64,
        seconds: SOAK_SECONDS,
        count: 2_000_000,
        request: (i) => {
          const delivery = stream(i);
          sent.push({ ...delivery, body: "" }); // kept for the verification: ids only, not 3 KB bodies
          return signedRequest(sign, `${HOST}:${service.port}`, delivery);
        },
      });
      clearInterval(sampler);
      expect(`service soak c=64`, "service", sent, sent.length);
      summarise("soak", "service", 64, result, service, await cpu());
      // The heap saws up and down between major collections: compare its troughs (RSS right after a collection)
      // in the middle and the last third of the soak, which a leak would raise.
      const window = (from: number, to: number) => samples.filter((x) => x.s >= from && x.s < to).map((x) => x.rssMb);
      const middle = window(SOAK_SECONDS / 3, (2 * SOAK_SECONDS) / 3);
      const last = window((2 * SOAK_SECONDS) / 3, SOAK_SECONDS + 1);
      const all = samples.map((x) => x.rssMb);
      soak = {
        seconds: SOAK_SECONDS,
        rssMbMin: Math.min(...all),
        rssMbMax: Math.max(...all),
        troughMiddleMb: Math.min(...middle),
        troughLastMb: Math.min(...last),
        growthMb: Math.min(...last) - Math.min(...middle),
        samples,
      };
      log(
        `  soak RSS: ${Math.min(...all).toFixed(0)}–${Math.max(...all).toFixed(0)} MB; troughs ` +
          `${Math.min(...middle).toFixed(0)} MB (middle third) → ${Math.min(...last).toFixed(0)} MB (last third)`,
      );
    }
    const serviceMemory = service.memory();
    const serviceStderr = service.stderr();
    await service.stop();

    let leanMemory: { rssMb: number; peakMb: number } | undefined;
    if (!args["skip-lean"]) {
      const lean = await startService({
        entry: await buildBenchServer("bench/lean-server.ts"),
        env: { ...serviceEnv("lean"), LOG_LEVEL: args["log-level"] },
      });
      cleanups.push(() => lean.stop());
      await overHttp(lean, "warm-up", "lean", 64, createdDeliveries("wl", 1500), { record: false });
      for (const concurrency of CONCURRENCY) {
        await overHttp(lean, "created", "lean", concurrency, createdDeliveries(`c${concurrency}l`, PER_STEP));
      }
      leanMemory = lean.memory();
      await lean.stop();
    }

    let pooledMemory: { rssMb: number; peakMb: number } | undefined;
    if (args.pooler && adminDatabaseUrl) {
      const pooler = new URL(process.env.BENCH_POOLER_URL || "postgres://postgres@127.0.0.1:6543/postgres");
      pooler.pathname = new URL(adminDatabaseUrl).pathname;
      const pooledEnv = { DATABASE_URL: pooler.toString(), DATABASE_POOL_MAX: String(POOL) };
      log(`  through the pooler at ${pooler.host} (prepare off, no pipelining)`);
      const pooledCeiling = postgresDirect(pooledEnv);
      cleanups.push(() => pooledCeiling.close());
      const pooled = await startService({ entry: "dist/main.js", env: { ...pooledEnv, LOG_LEVEL: args["log-level"] } });
      cleanups.push(() => pooled.stop());
      await overHttp(pooled, "warm-up", "service", 64, createdDeliveries("wp", 1500), { record: false });
      await direct(pooledCeiling, "warm-up", 64, createdDeliveries("xp", 1500), false);
      for (const concurrency of CONCURRENCY) {
        await direct(pooledCeiling, "pooled", concurrency, createdDeliveries(`p${concurrency}c`, PER_STEP));
        await overHttp(pooled, "pooled", "service", concurrency, createdDeliveries(`p${concurrency}s`, PER_STEP));
      }
      pooledMemory = pooled.memory();
      await pooled.stop();
    }

    let naiveMemory: { rssMb: number; peakMb: number } | undefined;
    if (!args["skip-naive"]) {
      const naive = await startService({
        entry: await buildBenchServer("bench/naive-server.ts"),
        env: { ...serviceEnv("naive"), LOG_LEVEL: args["log-level"] },
      });
      cleanups.push(() => naive.stop());
      await overHttp(naive, "warm-up", "naive", 64, createdDeliveries("wn", 1500), { record: false });
      for (const concurrency of CONCURRENCY) {
        await overHttp(naive, "created", "naive", concurrency, createdDeliveries(`c${concurrency}n`, PER_STEP));
      }
      naiveMemory = naive.memory();
      await naive.stop();
    }

    log("  verifying …");
    const verification = [];
    const invariants: Record<string, unknown> = {};
    for (const name of ["service", "naive", "ceiling", "lean"] as const) {
      const mine = expectations.filter((e) => e.database === name);
      if (mine.length === 0) continue;
      const db = await queries[name]();
      for (const expectation of mine) verification.push(await verify(db.query, expectation));
      invariants[name] = await globalInvariants(db.query);
      await db.close();
    }
    const verified =
      verification.every((v) => v.ok) &&
      Object.values(invariants).every(
        (i) =>
          (i as Record<string, number>).users_without_workspace === 0 &&
          (i as Record<string, number>).users_with_several_workspaces === 0,
      );

    const rendered = table();
    process.stdout.write(`\n${rendered}\n\n`);
    const memoryLine =
      `service RSS: peak ${serviceMemory.peakMb.toFixed(1)} MB` +
      (serviceRssAt64 === undefined ? "" : ` (after the concurrency-64 step: ${serviceRssAt64.toFixed(1)} MB)`) +
      (soak
        ? `; soak ${soak.seconds} s at concurrency 64: ${(soak.rssMbMin as number).toFixed(0)}–${(soak.rssMbMax as number).toFixed(0)} MB, ` +
          `troughs ${(soak.troughMiddleMb as number).toFixed(0)} → ${(soak.troughLastMb as number).toFixed(0)} MB ` +
          `(growth ${(soak.growthMb as number) >= 0 ? "+" : ""}${(soak.growthMb as number).toFixed(0)} MB)`
        : "") +
      (leanMemory ? `; lean peak ${leanMemory.peakMb.toFixed(1)} MB` : "") +
      (pooledMemory ? `; service through the pooler peak ${pooledMemory.peakMb.toFixed(1)} MB` : "") +
      (naiveMemory ? `; naive comparator peak ${naiveMemory.peakMb.toFixed(1)} MB` : "");
    process.stdout.write(`${memoryLine}\n`);
    if (starts) process.stdout.write(`${startsTable(starts)}\n`);
    process.stdout.write(
      verified
        ? `verified: every delivery left exactly one user and one workspace (deleted users none) — ${verification.length} checks\n`
        : `VERIFICATION FAILED:\n${JSON.stringify(
            { verification: verification.filter((v) => !v.ok), invariants },
            null,
            2,
          )}\n`,
    );
    if (serviceStderr.trim()) process.stdout.write(`service stderr:\n${serviceStderr}\n`);

    writeFileSync(
      join(RESULTS, "latest.json"),
      `${JSON.stringify(
        {
          startedAt: startedAt.toISOString(),
          machine,
          database,
          options: { seconds: SECONDS, deliveriesPerStep: PER_STEP, concurrency: CONCURRENCY, pool: POOL },
          rows,
          memory: {
            service: serviceMemory,
            serviceAfterConcurrency64Mb: serviceRssAt64,
            lean: leanMemory,
            pooled: pooledMemory,
            naive: naiveMemory,
          },
          starts,
          soak,
          verification: { ok: verified, checks: verification, invariants },
          table: rendered,
        },
        null,
        2,
      )}\n`,
    );
    process.stdout.write(`written: bench/results/latest.json\n`);
    process.exitCode = verified ? 0 : 1;
  } finally {
    await cleanup();
  }
}

await main();
