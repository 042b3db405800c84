import type { SQL } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import type { RetryWhen } from "../../db/call.js";
import type { BoundStatement } from "../../db/query.js";
import type { Db } from "../../db/types.js";
import type { ServiceError } from "../../errors.js";
import type { Counts } from "../../outcome.js";
import type { Columns, ColumnType } from "./rows-input.js";

/**
 * What a kind of Clerk object declares; the engine (define-kind.ts) does the rest: the snapshot of each row, the
 * version upsert (staleness by Clerk's `updated_at`, tombstones), the delivery record and its duplicate check, each
 * row's result, the removal, the REQUEST/BACKGROUND choice. docs/architecture.md shows how to add a kind.
 */

/** A statement's values by name, as placeholders while it is built (`v.id`, `v.delivery_id`, `v.skip`, …). */
export type Values = Readonly<Record<string, unknown>>;

/** A batch of one binds scalars and records its delivery; a page binds one array per column and records none. */
export type Shape = "one" | "many";

/** A value a kind's own rules read beside the copied ones: its input type and how a row gives it. */
export interface Input<Row> {
  type: ColumnType;
  of: (row: Row) => unknown;
}

/** `clerk_<kind>_versions`: the newest `updated_at` applied per id, and the tombstone that outlives the row. */
export interface VersionTable {
  table: PgTable;
  key: PgColumn;
  clerkUpdatedAt: PgColumn;
  deletedAt: PgColumn;
  /** Input columns kept with the version row, by the version column that holds each. */
  carries?: Record<string, PgColumn>;
}

/** The kinds of Clerk object the service mirrors (provisioning/kinds.ts lists them). */
export type KindName =
  | "users"
  | "organizations"
  | "memberships"
  | "subscriptionItems"
  | "invitations"
  | "roles"
  | "permissions";

/** A Clerk object as the database stores it, or why it stores nothing (recorded with the reason). */
export type Mapped<Row> = { row: Row } | { skip: string; id: string; updatedAt: number };

export interface KindSpec<Row, Field extends string, Key> {
  name: KindName;
  /** For messages: `user`, `organization`, `membership`. */
  noun: string;
  /** A Clerk JSON object (a webhook's `data`, a listing's item): throws `invalid_payload` naming the field. */
  fromClerk: (raw: unknown) => Mapped<Row>;
  /** `--dry-run`: what writing `rows` would come to, read only, counted as a sync counts (the kind's classify.ts). */
  classify: (db: Db, rows: readonly Row[]) => Promise<Counts>;
  versions: VersionTable;
  /**
   * The fields stored as Clerk sends them, each in its column (the type checker asks for every field of the parsed
   * object): the input columns, the insert and the update are made from this table.
   */
  copied: Record<Field, PgColumn>;
  copiedOf: (row: Row, field: Field) => unknown;
  /** What the kind's rules read beside the copied fields (input column name → value). */
  inputs: Record<string, Input<Row>>;
  idOf: (row: Row) => string;
  /** Clerk's `updated_at` (ms): the version of this state. */
  updatedAtOf: (row: Row) => number;
  /** Keys a statement may touch once each: a batch keeps the newest row per key (default: the id). */
  distinctBy?: readonly ((row: Row) => string)[];
  rules: Rules;
  removal: RemovalSpec<Key>;
  /** Values bound per attempt of the statement (users: `skip`, which spreads racing username picks apart). */
  attemptValues?: (attempt: number) => Record<string, unknown>;
  /** A failure worth another attempt of the statement (a race with a concurrent writer). */
  retryWhen?: RetryWhen;
  /** The kind's own reading of a refused row (users: an e-mail held by another user is `email_conflict`). */
  mapError?: (error: ServiceError) => ServiceError;
}

/** The kind's own SQL inside the engine's statement (engine/upsert-statement.ts shows the frame). */
export interface Rules {
  /** Further columns of `input`, read from the statement's snapshot, and the joins that read them. */
  probes?: (v: Values) => { columns: SQL; joins: SQL };
  /** CTEs between `input` and `version`, each followed by a comma (locks taken before the version's). */
  before?: SQL;
  /** A further condition for a row's version to move. */
  versionGuard?: SQL;
  /** CTEs after `version`, the last one `written (id, created)`: the rows written, `created` when inserted. */
  writes: (v: Values, shape: Shape) => SQL;
  /** A further reason for a row to be `deleted` (its organization or user is tombstoned). */
  gone?: SQL;
  /** The Clerk user a delivery record names (`i.…`), or `NULL::text`. */
  deliveryUser: SQL;
}

export interface RemovalSpec<Key> {
  /** Input columns beside `id` and `delivery_id` (a column named like a version's `carries` is kept with it). */
  columns: Columns;
  values: (key: Key) => Record<string, unknown> & { id: string };
  /** The Clerk user a delivery record names (`f.…`), or `NULL::text`. */
  deliveryUser: SQL;
  /** The second statement: deletes the rows of the ids tombstoned now, and what goes with them. */
  remove: (ids: string[]) => BoundStatement;
}
