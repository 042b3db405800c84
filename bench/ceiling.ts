import { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import type postgres from "postgres";
import { parseClerkEvent } from "../src/clerk/events.js";
import { loadConfig } from "../src/config.js";
import { MIGRATIONS_FOLDER, openPostgres } from "../src/db/client.js";
import type { BoundStatement } from "../src/db/query.js";
import * as schema from "../src/db/schema.js";
import { userKind } from "../src/provisioning/users/kind.js";
import { toUserRow } from "../src/provisioning/users/row.js";
import { countFailure, type LoadResult } from "./http-load.js";
import type { Delivery } from "./workload.js";

type Rows = Record<string, unknown>[];

/** The database as the ceiling sees it: raw statements, no HTTP, no verification, no Drizzle. */
export interface DirectDb {
  /** A named prepared statement (postgres.js) or PGlite's extended query. */
  run(text: string, params: unknown[]): Promise<Rows>;
  /** Statements in one transaction, the same way. */
  transaction<T>(work: (run: (text: string, params: unknown[]) => Promise<Rows>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * The service's own postgres.js client, configured by the same code from the same environment (pool size, session
 * settings such as statement_timeout, prepared statements): the ceiling differs from the service only by what the
 * service adds in front of the database.
 */
export function postgresDirect(env: Record<string, string>): DirectDb {
  const config = loadConfig({ ...env, NODE_ENV: "test" }).database;
  if (config.kind !== "postgres") throw new Error("postgresDirect needs DATABASE_URL");
  const database = openPostgres(config);
  const client = (database.db as unknown as { $client: postgres.Sql }).$client;
  const runOn = (sql: postgres.Sql | postgres.TransactionSql) => (text: string, params: unknown[]) =>
    sql.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true }) as unknown as Promise<Rows>;
  return {
    run: runOn(client),
    transaction: (work) => client.begin((tx) => work(runOn(tx))) as Promise<never>,
    close: () => database.close(),
  };
}

/**
 * Embedded mode: the service's PGlite lives in its process, so the ceiling gets its own, on disk like the service's
 * and migrated the same way.
 */
export async function pgliteDirect(dataDir: string): Promise<DirectDb> {
  const client = new PGlite(dataDir);
  await migratePglite(drizzlePglite({ client, schema }), { migrationsFolder: MIGRATIONS_FOLDER });
  return {
    run: async (text, params) => (await client.query<Record<string, unknown>>(text, params)).rows,
    transaction: (work) =>
      client.transaction((tx) =>
        work(async (text, params) => (await tx.query<Record<string, unknown>>(text, params)).rows),
      ),
    close: () => client.close(),
  };
}

/** What the ceiling runs for one delivery: the service's own statement(s), bound to it. */
export type Statement =
  | { kind: "one"; statement: BoundStatement }
  | { kind: "delete"; tombstone: BoundStatement; remove: BoundStatement };

/**
 * The statements the service runs for this delivery, built by the service's own code from the parsed event —
 * parsing and binding happen before the clock starts.
 */
export function ceilingStatement(delivery: Delivery): Statement {
  const event = parseClerkEvent(JSON.parse(delivery.body));
  const receivedAt = new Date();
  const stamp = { deliveryIds: [delivery.svixId], eventType: event.type, receivedAt };
  if (event.type === "user.deleted") {
    const { tombstone, remove } = userKind.removeStatements([event.userId], stamp);
    return { kind: "delete", tombstone, remove: remove([event.userId]) };
  }
  const mapped = event.type === "user.created" || event.type === "user.updated" ? toUserRow(event.user) : undefined;
  if (mapped?.kind !== "row") throw new Error(`the ceiling has no ${event.type} path`);
  const carried = { deliveryId: delivery.svixId, eventType: event.type, receivedAt };
  return { kind: "one", statement: userKind.writeStatement([mapped.row], [carried]) };
}

async function runOne(db: DirectDb, statement: Statement): Promise<string> {
  if (statement.kind === "one") {
    const rows = await db.run(statement.statement.text, statement.statement.params);
    return String(rows[0]?.result ?? "duplicate");
  }
  return db.transaction(async (run) => {
    const rows = await run(statement.tombstone.text, statement.tombstone.params);
    const outcome = String(rows[0]?.result ?? "duplicate");
    if (outcome === "deleted") await run(statement.remove.text, statement.remove.params);
    return outcome;
  });
}

/** Runs `statements` in order at `concurrency`, like the HTTP load does, until they run out or `seconds` pass. */
export async function runDirectLoad(options: {
  db: DirectDb;
  statements: Statement[];
  concurrency: number;
  seconds: number;
}): Promise<LoadResult> {
  const { statements } = options;
  const latencies = new Float64Array(statements.length);
  const outcomes: Record<string, number> = {};
  const failures: LoadResult["failures"] = {};
  let next = 0;
  let completed = 0;
  let nonOk = 0;
  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  const worker = async () => {
    while (next < statements.length && performance.now() < deadline) {
      const statement = statements[next++] as Statement;
      const sentAt = performance.now();
      try {
        const outcome = await runOne(options.db, statement);
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      } catch (error) {
        nonOk++;
        const code = String((error as { code?: unknown }).code ?? "error");
        countFailure(failures, code, () => String(error));
      }
      latencies[completed++] = performance.now() - sentAt;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  return { completed, seconds, latencies: latencies.subarray(0, completed), nonOk, failures, outcomes, sent: next };
}
