import postgres from "postgres";
import { expect, vi } from "vitest";
import type { TestDatabase } from "./database.js";

/** `application_name` of the service's pool (src/db/client.ts); the tests' own clients are `postgres.js`. */
const SERVICE_BACKENDS = `FROM pg_stat_activity
  WHERE datname = current_database() AND application_name = 'clerk-provisioner' AND pid <> pg_backend_pid()`;

/**
 * Kills every backend of the service's pool on this database and waits until the server has let them go.
 * The pids are read first and terminated by list: a `pg_terminate_backend` in the same WHERE as the filters may be
 * evaluated before them, on every backend of the server.
 */
export async function terminateServiceBackends(database: TestDatabase): Promise<number> {
  const pids = (await database.query<{ pid: number }>(`SELECT pid ${SERVICE_BACKENDS}`)).map((row) => row.pid);
  if (pids.length === 0) return 0;
  await database.query("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", [pids]);
  await vi.waitFor(
    async () => {
      const [row] = await database.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ANY($1::int[])",
        [pids],
      );
      expect(row?.n, "terminated backends still listed").toBe(0);
    },
    { timeout: 5_000, interval: 20 },
  );
  return pids.length;
}

/** Waits until one of the service's backends is blocked on a lock (held by a `LockHolder`). */
export async function waitForServiceBackendBlocked(database: TestDatabase, queryLike: string): Promise<void> {
  await vi.waitFor(
    async () => {
      const rows = await database.query<{ query: string }>(
        `SELECT query ${SERVICE_BACKENDS} AND wait_event_type = 'Lock' AND query ILIKE $1`,
        [queryLike],
      );
      expect(rows, "no service backend waiting on a lock yet").toHaveLength(1);
    },
    { timeout: 4_000, interval: 10 },
  );
}

export interface LockHolder {
  /** Runs in the holder's open transaction. */
  query(text: string, params?: unknown[]): Promise<unknown>;
  rollback(): Promise<void>;
}

/** A second session that opens a transaction and keeps the locks its statements take until `rollback`. */
export async function openLockHolder(url: string): Promise<LockHolder> {
  const client = postgres(url, { max: 1, onnotice: () => {} });
  await client.unsafe("BEGIN");
  return {
    query: (text, params) => client.unsafe(text, params as postgres.ParameterOrJSON<never>[]),
    rollback: async () => {
      await client.unsafe("ROLLBACK");
      await client.end();
    },
  };
}
