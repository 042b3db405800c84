import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkEvent, clerkUser, newSvixId, newUserId, type SignedDelivery, signDelivery } from "../helpers/clerk.js";
import { createPostgresDatabase, testDatabaseUrl, testPoolerUrl, throughPooler } from "../helpers/database.js";
import { type ServiceProcess, startService } from "../helpers/service-process.js";

const NPM_START = { file: "npm", args: ["start"] };
/** The shutdown promise: the whole process tree gone, with code 0, within this after SIGTERM. */
const EXIT_BOUND_MS = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const outcomeOf = async (res: Response) => ({ status: res.status, ...((await res.json()) as { outcome?: string }) });

/** Every process below `pid` (for `npm start`: node, `exec` having replaced the shell). */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" })
      .split("\n")
      .map((line) => Number(line.trim()))
      .filter((n) => n > 0);
  } catch {
    // ps exits 1 when there is none
  }
  return children.flatMap((child) => [child, ...descendants(child)]);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The exit of `service` within `ms`, or "still running". */
async function exitWithin(service: ServiceProcess, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"still running">((resolve) => {
    timer = setTimeout(() => resolve("still running"), ms);
  });
  try {
    return await Promise.race([service.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts a POST of `delivery` and sends all of it but its last bytes: the request is in flight (the route is reading
 * the body) until `finish()`; `answer` settles with the response.
 */
async function startSlowPost(url: string, delivery: SignedDelivery) {
  const body = Buffer.from(delivery.body);
  const req = http.request(`${url}/webhooks/clerk`, {
    method: "POST",
    headers: { ...delivery.headers, "content-length": String(body.length) },
    agent: false,
  });
  const answer = new Promise<{ status: number | undefined; body: string }>((resolve, reject) => {
    req.on("response", (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (chunk: string) => {
        text += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode, body: text }));
    });
    req.on("error", reject);
  });
  await new Promise<void>((resolve) => req.write(body.subarray(0, body.length - 16), () => resolve()));
  return { answer, finish: () => req.end(body.subarray(body.length - 16)) };
}

/** GET /health on a keep-alive agent and leave the connection open and idle. */
async function openIdleKeepAlive(url: string) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const status = await new Promise<number | undefined>((resolve, reject) => {
    http
      .get(`${url}/health`, { agent }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode));
      })
      .on("error", reject);
  });
  return { status, agent };
}

/** Directly, and through the transaction pooler when TEST_POOLER_URL is set. */
const routes = [
  { route: "directly", serviceUrl: (url: string) => url },
  ...(testPoolerUrl ? [{ route: "through the transaction pooler", serviceUrl: throughPooler }] : []),
];

describe.runIf(testDatabaseUrl).each(routes)("two service processes on one database, $route", ({ serviceUrl }) => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
  let sql: postgres.Sql;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    database = await createPostgresDatabase();
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
    const env = { DATABASE_URL: serviceUrl(database.url) };
    services.push(...(await Promise.all([1, 2].map(() => startService({ env })))));
  });

  afterAll(async () => {
    await Promise.all(services.map((service) => service.kill()));
    await sql?.end();
    await database?.drop();
  });

  test("the same burst sent to both leaves exactly one user and one workspace per user", async () => {
    const [a, b] = services;
    if (!a || !b) throw new Error("two services expected");
    const ids = Array.from({ length: 40 }, () => newUserId());
    // Svix sending one message twice at once, each copy to another process: same svix id, same bytes.
    const created = ids.map((id) => signDelivery(clerkEvent("user.created", clerkUser({ id, updatedAt: 1_000 }))));
    // And distinct messages for the same users, one to each process: two updates racing each other and the create.
    const update = (id: string, i: number, updatedAt: number) =>
      signDelivery(clerkEvent("user.updated", clerkUser({ id, firstName: `v${updatedAt}`, updatedAt })), {
        svixId: `msg_update_${i}_${updatedAt}_${newSvixId()}`,
      });
    const updates = ids.map((id, i) => ({ toA: update(id, i, 2_000), toB: update(id, i, 2_001) }));
    // Six new users whose e-mails share one local part, three to each process: six distinct usernames.
    const twinBase = `twin_${newUserId().slice(-8)}`;
    const twins = Array.from({ length: 6 }, (_, i) => {
      const id = newUserId();
      return {
        id,
        delivery: signDelivery(clerkEvent("user.created", clerkUser({ id, email: `${twinBase}@d${i}.example` }))),
      };
    });

    const [createdAnswers, updateAnswers, twinAnswers] = await Promise.all([
      Promise.all(created.map(async (d) => Promise.all([a, b].map(async (s) => outcomeOf(await s.post(d)))))),
      Promise.all(
        updates.map(async ({ toA, toB }) =>
          Promise.all([a.post(toA), b.post(toB)].map(async (answer) => outcomeOf(await answer))),
        ),
      ),
      Promise.all(twins.map(async ({ delivery }, i) => outcomeOf(await (i % 2 ? a : b).post(delivery)))),
    ]);

    const statuses = [...createdAnswers.flat(), ...updateAnswers.flat(), ...twinAnswers].map((o) => o.status);
    expect(
      statuses.filter((s) => s !== 200),
      "every delivery answered 200",
    ).toEqual([]);
    // Of the two copies of each user.created, exactly one applied it (or found it stale): the other is a duplicate.
    expect(
      createdAnswers.map((pair) => pair.map((o) => (o.outcome === "duplicate" ? "duplicate" : "applied")).sort()),
    ).toEqual(ids.map(() => ["applied", "duplicate"]));
    expect(updateAnswers.flat().filter((o) => o.outcome === "duplicate")).toEqual([]);

    const rows = await sql<{ id: string; first_name: string; workspaces: number }[]>`
      SELECT u.id, u.first_name, (SELECT count(*)::int FROM workspaces w WHERE w.user_id = u.id) AS workspaces
      FROM users u WHERE u.id = ANY(${ids})`;
    expect(rows).toHaveLength(ids.length);
    expect(rows.filter((r) => r.workspaces !== 1)).toEqual([]);
    expect(
      rows.filter((r) => r.first_name !== "v2001"),
      "the newest update wins",
    ).toEqual([]);
    const [recorded] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM clerk_deliveries`;
    expect(recorded?.n, "each svix id recorded once").toBe(created.length + 2 * updates.length + twins.length);
    const twinRows = await sql<
      { username: string }[]
    >`SELECT username FROM users WHERE id = ANY(${twins.map((t) => t.id)})`;
    expect(new Set(twinRows.map((r) => r.username)).size).toBe(twins.length);
  });
});

describe.runIf(testDatabaseUrl)("npm start on PostgreSQL, then SIGTERM to npm", () => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
  let service: ServiceProcess | undefined;

  beforeAll(async () => {
    database = await createPostgresDatabase();
  });

  afterAll(async () => {
    await service?.kill();
    await database?.drop();
  });

  test("reaches the server: it stops accepting, finishes the request in flight, and the tree exits 0", async () => {
    service = await startService({ env: { DATABASE_URL: database.url }, command: NPM_START });
    const npmPid = service.child.pid ?? 0;
    const tree = descendants(npmPid);
    expect(tree, "below npm runs the server alone (`exec` replaced the shell)").toHaveLength(1);

    const idle = await openIdleKeepAlive(service.url);
    expect(idle.status).toBe(200);
    const id = newUserId();
    const inFlight = await startSlowPost(service.url, signDelivery(clerkEvent("user.created", clerkUser({ id }))));

    service.child.kill("SIGTERM");
    await sleep(500); // the server has had the signal (npm forwards it at once)
    const refused = await fetch(`${service.url}/health`, { signal: AbortSignal.timeout(2_000) }).then(
      (res) => `answered ${res.status}`,
      () => "refused",
    );
    inFlight.finish();
    const answer = await inFlight.answer;
    const exit = await exitWithin(service, EXIT_BOUND_MS);
    idle.agent.destroy();

    expect(refused, "no new connection once shutting down").toBe("refused");
    expect(answer.status, answer.body).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ outcome: "provisioned" });
    expect(exit, service.output().slice(-2000)).toEqual({ code: 0, signal: null });
    expect(tree.filter(isRunning), "the server process is gone too").toEqual([]);
    expect(service.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(["shutting down", "stopped"]));
  });
});

describe("npm start with no DATABASE_URL (embedded PGlite)", () => {
  const dir = mkdtempSync(join(tmpdir(), "clerk-provisioner-"));
  let service: ServiceProcess | undefined;

  afterAll(async () => {
    await service?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  test("starts, makes a 0600 development secret it never logs, serves with it, and exits 0 on SIGTERM", async () => {
    service = await startService({
      env: { PGLITE_DATA_DIR: join(dir, "pglite"), CLERK_WEBHOOK_SIGNING_SECRET: "" },
      command: NPM_START,
    });
    const secretFile = join(dir, "webhook-signing-secret");
    const secret = readFileSync(secretFile, "utf8").trim();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/);
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    expect(service.logs.find((l) => l.msg === "listening")).toMatchObject({ database: "pglite" });

    const id = newUserId();
    const res = await service.post(signDelivery(clerkEvent("user.created", clerkUser({ id })), { secret }));
    expect(await outcomeOf(res)).toEqual({ status: 200, received: true, outcome: "provisioned" });

    service.child.kill("SIGTERM");
    const exit = await exitWithin(service, EXIT_BOUND_MS);
    expect(exit, service.output().slice(-2000)).toEqual({ code: 0, signal: null });
    const output = service.output();
    expect(output).toContain(secretFile);
    expect(output.includes(secret) || output.includes(secret.slice("whsec_".length)), "the secret is logged").toBe(
      false,
    );
  });
});
