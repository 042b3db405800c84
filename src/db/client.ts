import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import type { Config } from "../config.js";
import { limitEachTransaction } from "./query.js";
import * as schema from "./schema.js";
import type { Db } from "./types.js";

export const MIGRATIONS_FOLDER = new URL("../../migrations", import.meta.url).pathname;

export interface Database {
  db: Db;
  kind: "pglite" | "postgres";
  close(): Promise<void>;
}

/** Supabase's transaction pooler (Supavisor, port 6543) cannot keep prepared statements across transactions. */
export function isTransactionPooler(url: string): boolean {
  return new URL(url).port === "6543";
}

/**
 * Seconds before a pooled connection tries the server again after a failed attempt. postgres.js counts failures
 * across the whole pool and waits up to 20 s by default (3^n / 100 s), so after a short outage under load the
 * service stayed unavailable for many seconds after the server was back; capped at 2 s here, still jittered.
 */
export function reconnectDelaySeconds(failures: number): number {
  return (0.5 + Math.random() / 2) * Math.min(3 ** failures / 100, 2);
}

/**
 * Sent as startup parameters. A transaction pooler refuses them (PgBouncer: "unsupported startup parameter") or
 * drops them, since its server connections are shared: there each transaction sets them (`limitEachTransaction`).
 */
function sessionSettings(statementTimeoutMs: number) {
  return {
    application_name: "clerk-provisioner",
    statement_timeout: statementTimeoutMs,
    lock_timeout: statementTimeoutMs,
    idle_in_transaction_session_timeout: statementTimeoutMs * 2,
  };
}

export function openPostgres(config: Extract<Config["database"], { kind: "postgres" }>): Database {
  const pooled = isTransactionPooler(config.url);
  const client = postgres(config.url, {
    max: config.poolMax,
    idle_timeout: config.idleTimeoutSeconds,
    connect_timeout: config.connectTimeoutSeconds,
    backoff: reconnectDelaySeconds,
    prepare: !pooled,
    // Behind a transaction pooler, a query pipelined behind a busy one can hang or get another query's answer
    // (porsager/postgres#970); 1 sends the next only after the previous answered (0 breaks sql.begin, #1210).
    ...(pooled ? { max_pipeline: 1 } : {}),
    onnotice: () => {},
    connection: pooled ? { application_name: "clerk-provisioner" } : sessionSettings(config.statementTimeoutMs),
  });
  if (pooled) limitEachTransaction(client, config.statementTimeoutMs);
  return {
    db: drizzlePostgres({ client, schema }),
    kind: "postgres",
    close: () => client.end({ timeout: 5 }),
  };
}

/** Embedded Postgres: `dataDir` on disk, or in memory when undefined (tests). Migrated on open. */
export async function openPglite(dataDir: string | undefined): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const client = new PGlite(dataDir);
  const db = drizzlePglite({ client, schema });
  await migratePglite(db, { migrationsFolder: MIGRATIONS_FOLDER });
  return { db, kind: "pglite", close: () => client.close() };
}

export function openDatabase(config: Config["database"]): Promise<Database> {
  return config.kind === "postgres" ? Promise.resolve(openPostgres(config)) : openPglite(config.dataDir);
}
