/**
 * `npm run bench:latency -- --kind <memberships|subscription-items|invitations> [--count N] [--organizations N]`:
 * the latency of one delivery of a kind, through the service's own app (in process: `app.request()`, svix-signed,
 * verified, parsed and applied), on PostgreSQL (a fresh database on BENCH_DATABASE_URL) and on PGlite, one delivery
 * at a time. Without `--kind`, every kind in turn. The workloads are in bench/latency-workloads.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Webhook } from "svix";
import { createApp } from "../src/app.js";
import { newClerkId } from "../src/cli/sample-organization-events.js";
import { openPglite, openPostgres } from "../src/db/client.js";
import { createLogger } from "../src/logger.js";
import { createMigratedDatabase } from "../support/migrated-database.js";
import { type Kind, WORKLOADS, type WorkloadOptions } from "./latency-workloads.js";
import { BENCH_SECRET } from "./workload.js";

const { values: args } = parseArgs({
  options: {
    kind: { type: "string" },
    count: { type: "string" },
    organizations: { type: "string", default: "100" },
  },
});
const KINDS = Object.keys(WORKLOADS) as Kind[];
if (args.kind !== undefined && !KINDS.includes(args.kind as Kind)) {
  process.stderr.write(`--kind: one of ${KINDS.join(", ")} (default: all in turn), not ${args.kind}\n`);
  process.exit(2);
}
const webhook = new Webhook(BENCH_SECRET);

async function measure(db: Parameters<typeof createApp>[0]["db"], kind: Kind, options: WorkloadOptions) {
  const app = createApp({ db, webhookSigningSecret: BENCH_SECRET, logger: createLogger("silent") });
  const deliver = async (body: string) => {
    const id = newClerkId("msg");
    const now = new Date();
    const res = await app.request("/webhooks/clerk", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "svix-id": id,
        "svix-timestamp": String(Math.floor(now.getTime() / 1000)),
        "svix-signature": webhook.sign(id, now, body),
      },
      body,
    });
    if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
  };
  const times: number[] = [];
  const timed = async (body: string) => {
    const started = performance.now();
    await deliver(body);
    times.push(performance.now() - started);
  };
  await WORKLOADS[kind].run(deliver, timed, options);
  return times.sort((a, b) => a - b);
}

const at = (sorted: number[], q: number) =>
  (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(2);
const row = (name: string, sorted: number[]) =>
  `${name.padEnd(12)} ${String(sorted.length).padStart(6)} ${at(sorted, 0.5).padStart(8)} ${at(sorted, 0.9).padStart(8)} ${at(sorted, 0.99).padStart(8)}`;

async function onPostgres(kind: Kind, options: WorkloadOptions): Promise<string> {
  const created = await createMigratedDatabase(
    process.env.BENCH_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres",
    `bench_latency_${kind.replaceAll("-", "_")}`,
  );
  const postgresDb = openPostgres({
    kind: "postgres",
    url: created.url,
    poolMax: 4,
    idleTimeoutSeconds: 30,
    connectTimeoutSeconds: 10,
    statementTimeoutMs: 5000,
  });
  try {
    return row("PostgreSQL", await measure(postgresDb.db, kind, options));
  } finally {
    await postgresDb.close();
    await created.drop();
  }
}

async function onPglite(kind: Kind, options: WorkloadOptions): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), `bench-latency-${kind}-`));
  const pglite = await openPglite(join(dir, "pglite"));
  try {
    return row("PGlite", await measure(pglite.db, kind, options));
  } finally {
    await pglite.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function bench(kind: Kind) {
  const workload = WORKLOADS[kind];
  const options = {
    count: args.count === undefined ? workload.defaultCount : Number(args.count),
    organizations: Number(args.organizations),
  };
  const load = loadavg()
    .map((n) => n.toFixed(2))
    .join(" ");
  process.stdout.write(`${kind}: load ${load}; ${workload.describe(options)}, one at a time\n`);
  const lines = [
    `${"database".padEnd(12)} ${"n".padStart(6)} ${"p50 ms".padStart(8)} ${"p90 ms".padStart(8)} ${"p99 ms".padStart(8)}`,
    await onPostgres(kind, options),
    await onPglite(kind, options),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

for (const kind of args.kind === undefined ? KINDS : [args.kind as Kind]) await bench(kind);
