import { type SQL, sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import { notRecorded, recordDeliveries } from "../deliveries.js";
import type { Rules, Shape, Values, VersionTable } from "./spec.js";

/**
 * The engine's write, one statement for every kind: a chain of CTEs that commits whole or not at all.
 *
 *   input     the rows, each with what the statement's snapshot holds for it: its version row, whether it is
 *             newer (a column, not a filter: the planner guesses a filter's selectivity far too low and nested
 *             loops over a page), and the kind's probes; a batch of one drops its row when its delivery id is
 *             recorded already
 *   …         the kind's `before` (locks to take first)
 *   version   the guarded upsert of the version row: forward only (equal is not newer), never once tombstoned;
 *             rows the snapshot already shows as not newer never reach it, and its `ON CONFLICT … WHERE` decides
 *             again for rows changed since the snapshot; its row lock serialises every write of one object
 *   …         the kind's `writes`, ending with `written (id, created)`
 *   results   each row's result: created, updated, deleted (tombstoned), unchanged, stored_newer
 *   recorded  each row's delivery record (a batch of one, a batch of deliveries): a conflict on `delivery_id` is a
 *             concurrent copy → duplicate
 *
 * A page's answer leaves out its `unchanged` rows (a re-run's every row, each one to decode in the client): the verb
 * adds them. The rendered text of every kind's statement is committed beside it (`*.sql`).
 */
export function upsertStatement(input: SQL, v: Values, form: Form, kind: { versions: VersionTable; rules: Rules }) {
  const { versions, rules } = kind;
  const shape = shapeOf(form);
  return sql`WITH ${snapshot(input, v, form, versions, rules)}, ${rules.before ?? sql``}${upsertVersions(shape, versions, rules)}, ${rules.writes(v, shape)}, ${results(form, rules)}${answer(v, form)}`;
}

/**
 * The engine's three statements: `one` row with its delivery (scalars), a `page` of rows without deliveries (sync),
 * a `batch` of rows each with its delivery (coalesced webhook deliveries). Kinds see the two shapes only.
 */
export type Form = "one" | "page" | "batch";
export const shapeOf = (form: Form): Shape => (form === "one" ? "one" : "many");

/** `fragment` when `condition` holds (a part only one shape has). */
export const when = (condition: boolean, fragment: SQL) => (condition ? fragment : sql``);

/** Rows of a page are written in id order, so that concurrent pages lock in one order (one row needs no sort). */
export const inIdOrder = (shape: Shape, alias: string) =>
  when(
    shape === "many",
    sql`
    ORDER BY ${sql.raw(alias)}.id`,
  );

const name = (column: PgColumn) => sql.identifier(column.name);

function snapshot(input: SQL, v: Values, form: Form, versions: VersionTable, rules: Rules) {
  const probes = rules.probes?.(v);
  return sql`input AS (
    SELECT i.*, v.clerk_updated_at, v.deleted_at,
      v.deleted_at IS NULL AND (v.clerk_updated_at IS NULL OR v.clerk_updated_at < i.updated_at) AS newer${
        probes?.columns ?? sql``
      }
    FROM (${input}) i
    LEFT JOIN LATERAL (SELECT v.clerk_updated_at, v.deleted_at FROM ${versions.table} v
      WHERE v.${name(versions.key)} = i.id LIMIT 1) v ON true${probes?.joins ?? sql``}${when(
        form !== "page",
        sql`
    WHERE i.delivery_id IS NULL OR ${notRecorded}`,
      )}
  )`;
}

/**
 * The kind's guard stays an expression (`IS TRUE`), so its `IN (SELECT … FROM <lock CTE>)` are hashed subplans: as a
 * top-level `IN` the planner pulls it up into a semi join, and with the lock CTEs estimated at a few rows in a generic
 * plan it nested loops over them (a memberships page: 500 × 250 comparisons, half the page's time).
 */
function upsertVersions(shape: Shape, versions: VersionTable, rules: Rules) {
  const carried = Object.entries(versions.carries ?? {});
  const columns = [versions.key, ...carried.map(([, column]) => column), versions.clerkUpdatedAt].map(name);
  const values = [sql`i.id`, ...carried.map(([input]) => sql`i.${sql.identifier(input)}`), sql`i.updated_at`];
  return sql`version AS (
    INSERT INTO ${versions.table} (${sql.join(columns, sql`, `)})
    SELECT ${sql.join(values, sql`, `)} FROM input i
    WHERE i.newer${rules.versionGuard ? sql` AND (${rules.versionGuard}) IS TRUE` : sql``}${inIdOrder(shape, "i")}
    ON CONFLICT (${name(versions.key)}) DO UPDATE SET clerk_updated_at = excluded.clerk_updated_at
      WHERE ${versions.deletedAt} IS NULL AND ${versions.clerkUpdatedAt} < excluded.clerk_updated_at
    RETURNING ${name(versions.key)} AS id
  )`;
}

/**
 * A batch of one joins its row to `written`; more rows look themselves up in `written` with hashed subplans, which
 * hash whatever the estimates: as a join, a generic plan (`unnest` estimated at 10 rows) nested loops over a page.
 */
function results(form: Form, rules: Rules) {
  const one = form === "one";
  const written = one
    ? sql`WHEN w.id IS NOT NULL THEN CASE WHEN w.created THEN 'created' ELSE 'updated' END`
    : sql`WHEN i.id IN (SELECT id FROM written WHERE created) THEN 'created'
        WHEN i.id IN (SELECT id FROM written) THEN 'updated'`;
  const delivery = form === "batch" ? sql` i.delivery_id, i.event_type, i.received_at,` : sql` i.delivery_id,`;
  return sql`results AS (
    SELECT i.id,${when(form !== "page", sql`${delivery} ${rules.deliveryUser} AS user_id,`)} CASE
        ${written}
        WHEN i.deleted_at IS NOT NULL${rules.gone ? sql` OR ${rules.gone}` : sql``} THEN 'deleted'
        WHEN i.clerk_updated_at = i.updated_at THEN 'unchanged'
        ELSE 'stored_newer' END AS result
    FROM input i${when(one, sql` LEFT JOIN written w ON w.id = i.id`)}
  )`;
}

/** Each row's delivery record: `provisioned` when written, else `stale`. */
const recordResults = (v: Values, form: Form) =>
  recordDeliveries(
    sql`SELECT delivery_id, user_id, CASE WHEN result IN ('created', 'updated')
      THEN 'provisioned' ELSE 'stale' END AS outcome, NULL::text AS reason${when(
        form === "batch",
        sql`, event_type, received_at`,
      )} FROM results`,
    form === "batch" ? { eventType: sql`s.event_type`, receivedAt: sql`s.received_at` } : v,
  );

/**
 * A batch of one: its row's result, or `duplicate`. A page: the rows that are not `unchanged`. A batch of
 * deliveries: every row's result, `duplicate` when its delivery was recorded by a concurrent copy (a row whose
 * delivery was recorded before the snapshot is not in `input`: the verb answers it `duplicate`).
 */
function answer(v: Values, form: Form) {
  if (form === "page")
    return sql`
  SELECT id, result FROM results WHERE result <> 'unchanged'`;
  if (form === "batch")
    return sql`, ${recordResults(v, form)}
  SELECT r.id, CASE WHEN r.delivery_id NOT IN (SELECT delivery_id FROM recorded) THEN 'duplicate'
      ELSE r.result END AS result
  FROM results r`;
  return sql`, ${recordResults(v, form)}
  SELECT ${v.id}::text AS id, CASE WHEN ${v.delivery_id}::text IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM recorded) THEN 'duplicate' ELSE (SELECT result FROM results) END AS result`;
}
