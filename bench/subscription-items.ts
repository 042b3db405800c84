/**
 * `npm run bench:subscription-items`: the latency of one Clerk Billing item delivery, through the service's own app
 * (in process: `app.request()`, svix-signed, verified, parsed and applied, the payer's tier recomputed), on
 * PostgreSQL (a fresh database on BENCH_DATABASE_URL) and on PGlite, one delivery at a time. Each payer is a user
 * delivered first, then its default plan's item and an upgrade's two items (the old one ended, the new one active).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Webhook } from "svix";
import { createApp } from "../src/app.js";
import { sampleBillingEvent } from "../src/cli/sample-billing-events.js";
import { newClerkId } from "../src/cli/sample-organization-events.js";
import { openPglite, openPostgres } from "../src/db/client.js";
import { createLogger } from "../src/logger.js";
import { createMigratedDatabase } from "../support/migrated-database.js";
import { BENCH_SECRET, userEvent } from "./workload.js";

const { values: args } = parseArgs({ options: { payers: { type: "string", default: "700" } } });
const PAYERS = Number(args.payers);
const webhook = new Webhook(BENCH_SECRET);

async function measure(db: Parameters<typeof createApp>[0]["db"]): Promise<number[]> {
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
  for (let i = 0; i < PAYERS; i++) {
    const userId = `user_${newClerkId("b").slice(2)}`;
    await deliver(userEvent("user.created", { userId, updatedAt: Date.now(), index: i }).body);
    const free = { userId, organizationId: undefined, itemId: newClerkId("csub_item"), plan: "free_user" };
    const pro = { ...free, itemId: newClerkId("csub_item"), plan: "pro" };
    for (const [type, ids] of [
      ["subscriptionItem.active", free],
      ["subscriptionItem.ended", free],
      ["subscriptionItem.active", pro],
    ] as const) {
      const body = JSON.stringify(sampleBillingEvent(type, ids));
      const started = performance.now();
      await deliver(body);
      times.push(performance.now() - started);
    }
  }
  return times.sort((a, b) => a - b);
}

const at = (sorted: number[], q: number) =>
  (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(2);
const row = (name: string, sorted: number[]) =>
  `${name.padEnd(12)} ${String(sorted.length).padStart(6)} ${at(sorted, 0.5).padStart(8)} ${at(sorted, 0.9).padStart(8)} ${at(sorted, 0.99).padStart(8)}`;

async function main() {
  process.stdout.write(
    `load ${loadavg()
      .map((n) => n.toFixed(2))
      .join(" ")}; ${PAYERS * 3} subscriptionItem.* deliveries, one at a time\n`,
  );
  const lines = [
    `${"database".padEnd(12)} ${"n".padStart(6)} ${"p50 ms".padStart(8)} ${"p90 ms".padStart(8)} ${"p99 ms".padStart(8)}`,
  ];
  const created = await createMigratedDatabase(
    process.env.BENCH_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres",
    "bench_subscription_items",
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
    lines.push(row("PostgreSQL", await measure(postgresDb.db)));
  } finally {
    await postgresDb.close();
    await created.drop();
  }
  const dir = mkdtempSync(join(tmpdir(), "bench-subscription-items-"));
  const pglite = await openPglite(join(dir, "pglite"));
  try {
    lines.push(row("PGlite", await measure(pglite.db)));
  } finally {
    await pglite.close();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

await main();
