import { sql } from "drizzle-orm";
import journal from "../../migrations/meta/_journal.json" with { type: "json" };
import { ServiceError } from "../errors.js";
import { callDatabase } from "./call.js";
import { sqlState } from "./errors.js";
import { queryRows } from "./query.js";
import type { Db } from "./types.js";

export interface HealthChecks {
  connection: boolean;
  users_table: boolean;
  workspaces_table: boolean;
  constraints: boolean;
  /** Every migration this code needs is applied. */
  migrations: boolean;
}

export interface Health {
  checks: HealthChecks;
  /** The tags of the migrations not applied (undefined when that could not be read). */
  missingMigrations: string[] | undefined;
}

const PROBE_TIMEOUT_MS = 2_000;

/**
 * The migrations this code needs, embedded at build time (the Edge Function is bundled, without the folder). drizzle's
 * migrator records each one it applies in `drizzle.__drizzle_migrations` with its journal `when` as `created_at`.
 */
const NEEDED = journal.entries.map(({ tag, when }) => ({ tag, when: String(when) }));

/** The catalog: both tables, and `unique_user_workspace` being UNIQUE (user_id). */
const catalog = sql`to_regclass('public.users') IS NOT NULL AS users_table,
  to_regclass('public.workspaces') IS NOT NULL AS workspaces_table,
  EXISTS (
    SELECT 1 FROM pg_constraint c
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ALL (c.conkey)
    WHERE c.conname = 'unique_user_workspace' AND c.contype = 'u'
      AND c.conrelid = to_regclass('public.workspaces') AND cardinality(c.conkey) = 1 AND a.attname = 'user_id'
  ) AS constraints`;

/** One round trip: the catalog and the migrations recorded as applied. */
const probe = sql`SELECT ${catalog}, ARRAY(SELECT created_at::text FROM drizzle.__drizzle_migrations) AS applied`;
/** When drizzle never recorded a migration here (no such table). */
const probeUnrecorded = sql`SELECT ${catalog}, '{}'::text[] AS applied`;

type ProbeRow = Omit<HealthChecks, "connection" | "migrations"> & { applied: string[] };

async function probeDatabase(db: Db): Promise<ProbeRow[]> {
  try {
    return await queryRows<ProbeRow>(db, probe);
  } catch (error) {
    if (sqlState(error) !== "42P01") throw error;
    return queryRows<ProbeRow>(db, probeUnrecorded);
  }
}

/** One probe: the catalog's checks, and the tags of the migrations this code needs that are not applied. */
async function probeSchema(db: Db) {
  const [row] = await callDatabase({ deadlineMs: PROBE_TIMEOUT_MS, unavailableRetries: 0 }, () => probeDatabase(db));
  if (!row) throw new Error("empty probe answer");
  const { applied, ...tables } = row;
  const recorded = new Set(applied);
  return { tables, missing: NEEDED.filter(({ when }) => !recorded.has(when)).map(({ tag }) => tag) };
}

export async function checkHealth(db: Db): Promise<Health> {
  try {
    const { tables, missing } = await probeSchema(db);
    return { checks: { connection: true, ...tables, migrations: missing.length === 0 }, missingMigrations: missing };
  } catch {
    const checks = { connection: false, users_table: false, workspaces_table: false, constraints: false };
    return { checks: { ...checks, migrations: false }, missingMigrations: undefined };
  }
}

/**
 * Deliveries and `/v1/me` wait for the whole schema: while a migration this code needs is not applied, they answer
 * 503 `schema_outdated` (Svix retries) rather than run this code on an older schema, even where its statements would
 * still succeed. Probed on every call (verified requests only, concurrent ones sharing one probe) until the schema is
 * complete, then never again: migrations are not undone.
 */
export function createSchemaGate(db: Db): () => Promise<void> {
  let complete = false;
  let probing: Promise<string[]> | undefined;
  return async () => {
    if (complete) return;
    probing ??= probeSchema(db)
      .then(({ missing }) => missing)
      .finally(() => {
        probing = undefined;
      });
    const missing = await probing;
    if (missing.length === 0) {
      complete = true;
      return;
    }
    throw new ServiceError("schema_outdated", "the database schema is behind this code: run `npm run db:migrate`", {
      detail: `missing ${missing.join(" ")}`,
    });
  };
}
