import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkEvent, clerkUser, newSvixId, newUserId, signDelivery, TEST_SECRET } from "../helpers/clerk.js";
import {
  type CreatedDatabase,
  createPostgresDatabase,
  testDatabaseUrl,
  testPoolerUrl,
  throughPooler,
} from "../helpers/database.js";
import { expectError } from "../helpers/expect-error.js";
import { freePort } from "../helpers/listen.js";
import { PROJECT_ROOT } from "../helpers/service-process.js";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.js";

const ENTRY = "supabase/functions/clerk-webhooks/index.ts";
const CONFIG = "supabase/functions/clerk-webhooks/deno.json";
/** The first run may fetch the function's npm imports into Deno's cache (CI runs `deno check` first). */
const START_TIMEOUT_MS = 120_000;
/** Sequential deliveries for the CPU figure. */
const MEASURED_DELIVERIES = 300;

/** The Deno binary the npm `deno` package ships (its bin script would add a Node process in between). */
const denoBinary = (): string => createRequire(import.meta.url)("deno/install_api.cjs").runInstall();

/** utime + stime of `pid`, in ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * The Supabase Edge Function entry under real Deno, served locally on the function's base path, on a database of its
 * own reached through the transaction pooler (TEST_POOLER_URL) and a TCP proxy the test can cut: the database down.
 */
describe.runIf(testDatabaseUrl && testPoolerUrl)("the Supabase Edge Function under Deno, through the pooler", () => {
  let database: CreatedDatabase;
  let sql: postgres.Sql;
  let proxy: TcpProxy;
  let deno: ChildProcess;
  let output = "";
  let base: string;

  const post = (payload: unknown, options: { svixId?: string; secret?: string } = {}) => {
    const delivery = signDelivery(payload, options);
    return fetch(`${base}/webhooks/clerk`, { method: "POST", body: delivery.body, headers: delivery.headers });
  };
  const outcome = async (res: Response) => ({ status: res.status, ...((await res.json()) as object) });
  const rows = async (id: string) =>
    (
      await sql<{ users: number; workspaces: number }[]>`
      SELECT (SELECT count(*)::int FROM users WHERE id = ${id}) AS users,
             (SELECT count(*)::int FROM workspaces WHERE user_id = ${id}) AS workspaces`
    )[0];

  beforeAll(async () => {
    database = await createPostgresDatabase();
    sql = postgres(database.url, { max: 1, onnotice: () => {} });
    const pooler = new URL(testPoolerUrl as string);
    // On a loopback address of its own: the outage test's proxy has 127.0.0.2:6543.
    proxy = await startTcpProxy(
      { host: pooler.hostname, port: Number(pooler.port) },
      { host: "127.0.0.3", port: 6543 },
    );
    const port = await freePort();
    base = `http://127.0.0.1:${port}/clerk-webhooks`;
    deno = spawn(
      denoBinary(),
      ["run", "--config", CONFIG, "--allow-env", "--allow-net", "--allow-read", "--allow-sys", ENTRY],
      {
        cwd: PROJECT_ROOT,
        env: {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? "",
          ...(process.env.DENO_DIR ? { DENO_DIR: process.env.DENO_DIR } : {}),
          PORT: String(port),
          LOG_LEVEL: "warn",
          CLERK_PROVISIONER_DATABASE_URL: proxy.url(throughPooler(database.url)),
          CLERK_WEBHOOK_SIGNING_SECRET: TEST_SECRET,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    deno.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
    });
    deno.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (deno.exitCode !== null) throw new Error(`deno exited (${deno.exitCode}):\n${output}`);
      const status = await fetch(`${base}/health`).then(
        (res) => res.status,
        () => 0,
      );
      if (status === 200) break;
      if (Date.now() > deadline) throw new Error(`the function did not become healthy:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }, START_TIMEOUT_MS + 30_000);

  afterAll(async () => {
    deno?.kill("SIGKILL");
    await proxy?.close();
    await sql?.end();
    await database?.drop();
  });

  test("a user.created is provisioned, its redelivery is a duplicate, and a user.deleted removes it", async () => {
    const id = newUserId();
    const svixId = newSvixId();
    const event = clerkEvent("user.created", clerkUser({ id }));
    expect(await outcome(await post(event, { svixId }))).toEqual({
      status: 200,
      received: true,
      outcome: "provisioned",
    });
    expect(await outcome(await post(event, { svixId }))).toEqual({ status: 200, received: true, outcome: "duplicate" });
    expect(await rows(id)).toEqual({ users: 1, workspaces: 1 });
    const deleted = await post(clerkEvent("user.deleted", { id, object: "user", deleted: true }));
    expect(await outcome(deleted)).toEqual({ status: 200, received: true, outcome: "deleted" });
    expect(await rows(id)).toEqual({ users: 0, workspaces: 0 });
  });

  test("a delivery signed with another secret: 401 invalid_signature, nothing written", async () => {
    const id = newUserId();
    const forged = await post(clerkEvent("user.created", clerkUser({ id })), {
      secret: `whsec_${Buffer.from("another secret, 32 bytes long....").toString("base64")}`,
    });
    await expectError(forged, 401, "invalid_signature");
    expect(await rows(id)).toEqual({ users: 0, workspaces: 0 });
  });

  test("the database unreachable: 503 database_unavailable and nothing written; back, the retry provisions", async () => {
    const id = newUserId();
    const svixId = newSvixId();
    const event = clerkEvent("user.created", clerkUser({ id }));
    await proxy.cut({ reset: true });
    try {
      await expectError(await post(event, { svixId }), 503, "database_unavailable");
      expect((await fetch(`${base}/health`)).status).toBe(503);
    } finally {
      await proxy.restore();
    }
    expect(await rows(id)).toEqual({ users: 0, workspaces: 0 });
    let answer = { status: 0 } as { status: number; outcome?: string };
    for (let attempt = 0; attempt < 10 && answer.status !== 200; attempt++) {
      answer = await outcome(await post(event, { svixId }));
      if (answer.status !== 200) await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect(answer).toMatchObject({ status: 200, outcome: "provisioned" });
    expect(await rows(id)).toEqual({ users: 1, workspaces: 1 });
  });

  test(`CPU and latency of one delivery under Deno (${MEASURED_DELIVERIES} in a row, reported)`, async () => {
    const pid = deno.pid as number;
    const events = Array.from({ length: MEASURED_DELIVERIES }, () => clerkEvent("user.created", clerkUser()));
    for (const event of events.slice(0, 50)) await (await post(event)).arrayBuffer(); // warm-up
    const latencies: number[] = [];
    const before = cpuMs(pid);
    for (const event of events.slice(50)) {
      const started = performance.now();
      const res = await post(event);
      await res.arrayBuffer();
      latencies.push(performance.now() - started);
      expect(res.status).toBe(200);
    }
    const measured = latencies.length;
    const cpuPerDeliveryMs = (cpuMs(pid) - before) / measured;
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.floor(q * (measured - 1))]?.toFixed(2);
    console.log(
      `edge function under Deno: ${measured} deliveries, CPU ${cpuPerDeliveryMs.toFixed(3)} ms each ` +
        `(the whole Deno process: request, verification, parsing, postgres.js), latency p50 ${at(0.5)} ms, ` +
        `p99 ${at(0.99)} ms (through PgBouncer on a shared machine)`,
    );
  });
});
