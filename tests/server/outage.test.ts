import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkEvent, clerkUser, newSvixId, newUserId, signDelivery } from "../helpers/clerk.js";
import { createPostgresDatabase, testDatabaseUrl, testPoolerUrl, throughPooler } from "../helpers/database.js";
import { healthStatus, type ServiceProcess, startService, waitForHealth } from "../helpers/service-process.js";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.js";

/** Deliveries in flight at once, like Svix working through a backlog. */
const CONCURRENCY = 12;
/** Each sender's pause between deliveries (about 100 to 150 deliveries a second here, on 2 shared cores). */
const PAUSE_MS = 5;
/** A bound on the load, whatever the machine's speed. */
const MAX_DELIVERIES = 8_000;
/** Every fifth delivery is a `user.deleted` (of a user never seen): the one path that runs a transaction. */
const DELETE_EVERY = 5;
/** Rounds of Svix-style re-delivery of every non-2xx delivery after the faults. */
const MAX_REDELIVERY_ROUNDS = 5;
/** How long /health may take to come back by itself after a fault ends: liveness, not a performance figure. */
const RECOVERY_BOUND_MS = 25_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Delivery {
  svixId: string;
  userId: string;
  type: "user.created" | "user.deleted";
  body: string;
  /** HTTP status of each attempt, or the name of the error when no answer came. */
  attempts: (number | string)[];
}

interface Fault {
  kind: "cut (RST)" | "cut (FIN)" | "blackhole" | "pg_terminate_backend";
  /** /health while the fault lasts (not asked for pg_terminate_backend, which the pool heals at once). */
  healthDuring?: number | undefined;
  /** Milliseconds from the end of the fault to the first 200 from /health; undefined: not within the bound. */
  recoveredInMs: number | undefined;
}

/**
 * The real service (`node --import tsx src/main.ts`) talks to its own database through a TCP proxy that the test
 * cuts, blackholes and restores while signed deliveries keep arriving; then every non-2xx delivery is delivered again,
 * as Svix does, and the database must hold each event's effect exactly once.
 */
/**
 * Directly, and through the transaction pooler when TEST_POOLER_URL is set: then the proxy sits between the service
 * and the pooler (the network to Supavisor is what fails in production), on 127.0.0.2:6543 so that the service
 * sees a transaction pooler's port.
 */
const routes = [
  { route: "directly", target: { host: "127.0.0.1", port: 5432 }, at: undefined, serviceUrl: (url: string) => url },
  ...(testPoolerUrl
    ? [
        {
          route: "through the transaction pooler",
          target: { host: new URL(testPoolerUrl).hostname, port: Number(new URL(testPoolerUrl).port) },
          at: { host: "127.0.0.2", port: 6543 },
          serviceUrl: throughPooler,
        },
      ]
    : []),
];

describe.runIf(testDatabaseUrl).each(routes)(
  "the real service while the database goes away under load, $route",
  ({ target, at, serviceUrl }) => {
    let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
    let proxy: TcpProxy;
    let service: ServiceProcess;
    let sql: postgres.Sql;

    beforeAll(async () => {
      database = await createPostgresDatabase();
      sql = postgres(database.url, { max: 2, onnotice: () => {} });
      proxy = await startTcpProxy(target, at);
      service = await startService({
        env: {
          DATABASE_URL: proxy.url(serviceUrl(database.url)),
          DATABASE_CONNECT_TIMEOUT_SECONDS: "2",
          DATABASE_STATEMENT_TIMEOUT_MS: "3000",
        },
      });
    });

    afterAll(async () => {
      await service?.kill();
      await proxy?.close();
      await sql?.end();
      await database?.drop();
    });

    test("answers only 200 or 503 in time, never dies, recovers by itself, and loses or doubles nothing", async () => {
      const deliveries: Delivery[] = [];
      /** Anything but a 200 or a 503 in time: a 500, another status, no answer within 15 s, a dropped connection. */
      const failures: string[] = [];
      let slowestAnswerMs = 0;

      const attempt = async (delivery: Delivery) => {
        const signed = signDelivery(delivery.body, { svixId: delivery.svixId });
        const started = performance.now();
        try {
          const res = await service.post(signed);
          const text = await res.text();
          slowestAnswerMs = Math.max(slowestAnswerMs, performance.now() - started);
          delivery.attempts.push(res.status);
          if (res.status !== 200 && res.status !== 503) failures.push(`${delivery.svixId}: ${res.status} ${text}`);
        } catch (error) {
          const name = error instanceof Error ? error.name : String(error);
          delivery.attempts.push(name);
          failures.push(`${delivery.svixId}: ${name}${name === "TimeoutError" ? " (no answer within 15 s)" : ""}`);
        }
      };

      const newDelivery = (index: number): Delivery => {
        const userId = newUserId();
        const type = index % DELETE_EVERY === DELETE_EVERY - 1 ? "user.deleted" : "user.created";
        const data =
          type === "user.created" ? clerkUser({ id: userId }) : { id: userId, object: "user", deleted: true };
        return { svixId: newSvixId(), userId, type, body: JSON.stringify(clerkEvent(type, data)), attempts: [] };
      };

      let loading = true;
      const senders = Array.from({ length: CONCURRENCY }, async () => {
        while (loading && deliveries.length < MAX_DELIVERIES && service.alive()) {
          const delivery = newDelivery(deliveries.length);
          deliveries.push(delivery);
          await attempt(delivery);
          await sleep(PAUSE_MS);
        }
      });

      // While the load runs: five cuts (RST and FIN in turn), a hang, and an administrator's kill of every backend.
      const faults: Fault[] = [];
      const recover = async () => {
        const recoveredInMs = await waitForHealth(service, 200, RECOVERY_BOUND_MS);
        await sleep(700);
        return recoveredInMs;
      };
      await sleep(1_000);
      for (let cycle = 0; cycle < 5 && service.alive(); cycle++) {
        const reset = cycle % 2 === 0;
        await proxy.cut({ reset });
        await sleep(300);
        const healthDuring = await healthStatus(service);
        await sleep(1_000);
        await proxy.restore();
        faults.push({ kind: reset ? "cut (RST)" : "cut (FIN)", healthDuring, recoveredInMs: await recover() });
      }
      if (service.alive()) {
        proxy.blackhole();
        await sleep(300);
        const healthDuring = await healthStatus(service);
        await sleep(1_500);
        await proxy.restore();
        faults.push({ kind: "blackhole", healthDuring, recoveredInMs: await recover() });
      }
      if (service.alive()) {
        // The pids first, then a kill by list: only this database's service backends, never another session's.
        const backends = await sql<{ pid: number }[]>`SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'clerk-provisioner' AND pid <> pg_backend_pid()`;
        await sql`SELECT pg_terminate_backend(pid) FROM unnest(${backends.map((b) => b.pid)}::int[]) AS pid`;
        faults.push({ kind: "pg_terminate_backend", recoveredInMs: await recover() });
      }
      loading = false;
      await Promise.all(senders);
      const firstAttempts = deliveries.map((d) => d.attempts[0]);

      // Svix delivers every non-2xx delivery again: same svix id, same body, signed anew.
      let rounds = 0;
      for (; rounds < MAX_REDELIVERY_ROUNDS && service.alive(); rounds++) {
        const undelivered = deliveries.filter((d) => d.attempts.at(-1) !== 200);
        if (undelivered.length === 0) break;
        await waitForHealth(service, 200, RECOVERY_BOUND_MS);
        await Promise.all(
          Array.from({ length: CONCURRENCY }, async () => {
            for (let next = undelivered.shift(); next; next = undelivered.shift()) await attempt(next);
          }),
        );
      }

      const users = new Set((await sql<{ id: string }[]>`SELECT id FROM users`).map((r) => r.id));
      const recorded = await sql<
        { delivery_id: string; outcome: string }[]
      >`SELECT delivery_id, outcome FROM clerk_deliveries`;
      const [counts] = await sql<{ workspaces: number; users_without_one_workspace: number; tombstones: number }[]>`
      SELECT (SELECT count(*)::int FROM workspaces) AS workspaces,
             (SELECT count(*)::int FROM users u WHERE (SELECT count(*) FROM workspaces w WHERE w.user_id = u.id) <> 1)
               AS users_without_one_workspace,
             (SELECT count(*)::int FROM clerk_user_versions WHERE deleted_at IS NOT NULL) AS tombstones`;
      const created = deliveries.filter((d) => d.type === "user.created");
      const deleted = deliveries.filter((d) => d.type === "user.deleted");
      const outcomeOf = new Map(recorded.map((r) => [r.delivery_id, r.outcome]));
      const expectedOutcome = (d: Delivery) => (d.type === "user.created" ? "provisioned" : "deleted");
      const lost = deliveries.filter((d) =>
        d.type === "user.created" ? !users.has(d.userId) : outcomeOf.get(d.svixId) !== "deleted",
      );
      const alive = service.alive();

      const figures = {
        deliveriesSent: deliveries.length,
        attempts: deliveries.reduce((n, d) => n + d.attempts.length, 0),
        firstAttempt200: firstAttempts.filter((s) => s === 200).length,
        firstAttempt503: firstAttempts.filter((s) => s === 503).length,
        all503s: deliveries.reduce((n, d) => n + d.attempts.filter((s) => s === 503).length, 0),
        slowestAnswerMs: Math.round(slowestAnswerMs),
        redeliveryRounds: rounds,
        faultsSurvived: alive ? faults.length : 0,
        faults: faults.map(
          (f) =>
            `${f.kind}: /health ${f.healthDuring ?? "not asked"} during, 200 again ${f.recoveredInMs ?? "never"} ms after`,
        ),
        strayErrorsIgnored: service.logs.filter((l) => l.msg === "stray database connection error ignored").length,
        eventsLost: lost.length,
        failures: failures.length,
      };
      console.log(`outage figures ${JSON.stringify(figures, null, 2)}`);

      expect(alive, `the service is still running:\n${service.output().slice(-3000)}`).toBe(true);
      expect(failures, "every answer is a 200 or a 503 within 15 s").toEqual([]);
      // main.ts contains what escapes the driver, but an error thrown from postgres.js's own code is a path where it
      // lost track of a connection (unpatched, 3 in 3 runs here; and 2 runs in 7 then answered 200 for a statement
      // never committed). A refused reconnect (a socket error of node:net, seen once in a CI run under heavy load) is
      // survived by that backstop and loses nothing (checked below), so it is tolerated.
      const strays = service.logs
        .filter((l) => l.msg === "stray database connection error ignored")
        .map((l) => l.err as { code?: string; frames?: string[] });
      // A reconnect refused, or a reset read by a socket after the cut, raised by Node's own socket code (no frame
      // of the driver's or ours) and caught by the backstop: errors from the driver's code still fail the test.
      const nodeSocketError = (err: { code?: string; frames?: string[] }) =>
        (err.code === "ECONNREFUSED" || err.code === "ECONNRESET") &&
        (err.frames ?? []).every((frame) => frame.includes("node:net") || frame.includes("node:internal/stream_base"));
      expect(
        strays.filter((err) => !nodeSocketError(err)),
        "no error escaped from the database driver's code",
      ).toEqual([]);
      expect(faults.map((f) => f.kind)).toEqual([
        "cut (RST)",
        "cut (FIN)",
        "cut (RST)",
        "cut (FIN)",
        "cut (RST)",
        "blackhole",
        "pg_terminate_backend",
      ]);
      expect(
        faults.filter((f) => f.kind !== "pg_terminate_backend").map((f) => [f.kind, f.healthDuring]),
        "/health answers 503 while the database is cut off or hangs",
      ).toEqual(faults.filter((f) => f.kind !== "pg_terminate_backend").map((f) => [f.kind, 503]));
      expect(
        faults.map((f) => [f.kind, f.recoveredInMs !== undefined]),
        "/health answers 200 again after each fault, without a restart",
      ).toEqual(faults.map((f) => [f.kind, true]));
      expect(
        deliveries.filter((d) => d.attempts.at(-1) !== 200).map((d) => [d.svixId, d.attempts]),
        "every delivery is answered 200 in the end",
      ).toEqual([]);
      expect(
        lost.map((d) => [d.svixId, d.type, d.attempts, outcomeOf.get(d.svixId)]),
        "events lost (answered, yet no effect)",
      ).toEqual([]);
      expect(users.size, "one user per user.created, none for user.deleted").toBe(created.length);
      expect(deleted.filter((d) => users.has(d.userId))).toEqual([]);
      expect(counts).toEqual({
        workspaces: created.length,
        users_without_one_workspace: 0,
        tombstones: deleted.length,
      });
      expect(recorded, "each delivery recorded once").toHaveLength(deliveries.length);
      expect(deliveries.filter((d) => outcomeOf.get(d.svixId) !== expectedOutcome(d)).map((d) => d.svixId)).toEqual([]);
    }, 120_000);
  },
);
