import { sql } from "drizzle-orm";
import { callDatabase } from "./call.js";
import { queryRows } from "./query.js";
import type { Db } from "./types.js";

export interface HealthChecks {
  connection: boolean;
  users_table: boolean;
  workspaces_table: boolean;
  constraints: boolean;
}

const PROBE_TIMEOUT_MS = 2_000;

/** One round trip asks the catalog for both tables and for `unique_user_workspace` being UNIQUE (user_id). */
const probe = sql`SELECT
  to_regclass('public.users') IS NOT NULL AS users_table,
  to_regclass('public.workspaces') IS NOT NULL AS workspaces_table,
  EXISTS (
    SELECT 1 FROM pg_constraint c
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ALL (c.conkey)
    WHERE c.conname = 'unique_user_workspace' AND c.contype = 'u'
      AND c.conrelid = to_regclass('public.workspaces') AND cardinality(c.conkey) = 1 AND a.attname = 'user_id'
  ) AS constraints`;

export async function checkHealth(db: Db): Promise<HealthChecks> {
  try {
    const [row] = await callDatabase({ deadlineMs: PROBE_TIMEOUT_MS, unavailableRetries: 0 }, () =>
      queryRows<Omit<HealthChecks, "connection">>(db, probe),
    );
    if (!row) throw new Error("empty probe answer");
    return { connection: true, ...row };
  } catch {
    return { connection: false, users_table: false, workspaces_table: false, constraints: false };
  }
}
