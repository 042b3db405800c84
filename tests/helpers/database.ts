import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { type Database, MIGRATIONS_FOLDER, openPglite, openPostgres } from "../../src/db/client.js";
import * as schema from "../../src/db/schema.js";
import { type CreatedDatabase, createMigratedDatabase } from "../../support/migrated-database.js";

export { type CreatedDatabase, createMigratedDatabase };

export interface TestDatabase extends Database {
  /** postgres:// URL of this test's own database (real server only). */
  url?: string;
  /** Plain SQL on the same database, for assertions (the service's own pool is under test). */
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Runs `work` in one transaction on a plain connection (for SET LOCAL ROLE and the like); rolled back if it throws. */
  transaction<T>(work: (query: Query) => Promise<T>): Promise<T>;
  /** Applies the service's migrations not applied yet, as `npm run db:migrate` does. */
  migrate(): Promise<void>;
}

export type Query = <T = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<T[]>;

export interface OpenOptions {
  /** SQL run on the empty database first (e.g. Supabase's default privileges). */
  beforeMigrate?: string;
  /** Where the migrations come from: the service's own by default (see `migrationsBefore`). */
  migrationsFolder?: string;
}

export interface Driver {
  /** "pooler": a database on the TEST_DATABASE_URL server that the service reaches through TEST_POOLER_URL. */
  name: "pglite" | "postgres" | "pooler";
  open(options?: OpenOptions): Promise<TestDatabase>;
}

export const testDatabaseUrl = process.env.TEST_DATABASE_URL || undefined;
/** A transaction-mode pooler in front of the TEST_DATABASE_URL server (CI: PgBouncer on 127.0.0.1:6543). */
export const testPoolerUrl = process.env.TEST_POOLER_URL || undefined;

/**
 * PGlite always; the real server too when TEST_DATABASE_URL is set; and, for the suites that ask (`pooler`), the
 * real server through the transaction pooler when TEST_POOLER_URL is set as well.
 */
export function drivers({ pooler = false } = {}): Driver[] {
  const list: Driver[] = [{ name: "pglite", open: (options) => openTestPglite(options) }];
  if (testDatabaseUrl) list.push({ name: "postgres", open: (options) => openTestPostgres(options) });
  if (pooler && testDatabaseUrl && testPoolerUrl) {
    list.push({ name: "pooler", open: (options) => openTestPostgres(options ?? {}, { throughPooler: true }) });
  }
  return list;
}

/** The same database (one made on the TEST_DATABASE_URL server) reached through the pooler at TEST_POOLER_URL. */
export function throughPooler(databaseUrl: string): string {
  if (!testPoolerUrl) throw new Error("TEST_POOLER_URL is not set");
  const url = new URL(testPoolerUrl);
  url.pathname = new URL(databaseUrl).pathname;
  return url.toString();
}

/**
 * A copy of the service's migrations folder holding only the migrations before `tag` (its journal cut there): a
 * database migrated from it is one whose later migrations were never applied (a failed deploy, an old backup).
 */
export function migrationsBefore(tag: string): string {
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, "meta", "_journal.json"), "utf8")) as {
    entries: { tag: string }[];
  };
  const cut = journal.entries.findIndex((entry) => entry.tag === tag);
  if (cut < 0) throw new Error(`no migration ${tag}`);
  const folder = mkdtempSync(join(tmpdir(), "cp-migrations-"));
  mkdirSync(join(folder, "meta"));
  const entries = journal.entries.slice(0, cut);
  for (const entry of entries)
    copyFileSync(join(MIGRATIONS_FOLDER, `${entry.tag}.sql`), join(folder, `${entry.tag}.sql`));
  writeFileSync(join(folder, "meta", "_journal.json"), JSON.stringify({ ...journal, entries }));
  return folder;
}

export async function openTestPglite(options: OpenOptions = {}): Promise<TestDatabase> {
  const database =
    options.beforeMigrate === undefined && options.migrationsFolder === undefined
      ? await openPglite(undefined)
      : await pgliteAfter(options);
  const client = (database.db as unknown as { $client: PGlite }).$client;
  return {
    ...database,
    migrate: () => migratePglite(drizzlePglite({ client, schema }), { migrationsFolder: MIGRATIONS_FOLDER }),
    query: async <T>(text: string, params?: unknown[]) => (await client.query<T>(text, params)).rows,
    transaction: (work) =>
      client.transaction((tx) =>
        work(async <T>(text: string, params?: unknown[]) => (await tx.query<T>(text, params)).rows),
      ),
  };
}

async function pgliteAfter({ beforeMigrate, migrationsFolder = MIGRATIONS_FOLDER }: OpenOptions): Promise<Database> {
  const client = new PGlite();
  if (beforeMigrate !== undefined) await client.exec(beforeMigrate);
  const db = drizzlePglite({ client, schema });
  await migratePglite(db, { migrationsFolder });
  return { db, kind: "pglite", close: () => client.close() };
}

/** A database of its own on the TEST_DATABASE_URL server: created and migrated here, dropped on close. */
export function createPostgresDatabase(beforeMigrate?: string, migrationsFolder?: string): Promise<CreatedDatabase> {
  if (!testDatabaseUrl) throw new Error("TEST_DATABASE_URL is not set");
  return createMigratedDatabase(testDatabaseUrl, "cp_test", beforeMigrate, migrationsFolder);
}

/**
 * A database of its own, opened with the service's pool (through the pooler with `throughPooler`: created, migrated
 * and asserted on directly, as migrations must be).
 */
export async function openTestPostgres(
  options: Partial<Parameters<typeof openPostgres>[0]> & OpenOptions = {},
  { throughPooler: pooled = false } = {},
): Promise<TestDatabase> {
  const { beforeMigrate, migrationsFolder, ...poolOptions } = options;
  const created = await createPostgresDatabase(beforeMigrate, migrationsFolder);
  const database = openPostgres({
    kind: "postgres",
    url: pooled ? throughPooler(created.url) : created.url,
    poolMax: 20,
    idleTimeoutSeconds: 30,
    connectTimeoutSeconds: 10,
    statementTimeoutMs: 5_000,
    ...poolOptions,
  });
  const plain = postgres(created.url, { max: 2, onnotice: () => {} });
  return {
    ...database,
    url: created.url,
    migrate: () => migratePostgres(drizzlePostgres({ client: plain, schema }), { migrationsFolder: MIGRATIONS_FOLDER }),
    query: async <T>(text: string, params?: unknown[]) =>
      (await plain.unsafe(text, params as postgres.ParameterOrJSON<never>[])) as unknown as T[],
    transaction: async (work) =>
      (await plain.begin((tx) =>
        work(
          async <T>(text: string, params?: unknown[]) =>
            (await tx.unsafe(text, params as postgres.ParameterOrJSON<never>[])) as unknown as T[],
        ),
      )) as Awaited<ReturnType<typeof work>>,
    close: async () => {
      await database.close();
      await plain.end();
      await created.drop();
    },
  };
}

/** A pool pointed at a port where nothing listens: every call fails to connect (fast, with short timeouts). */
export function openUnreachablePostgres(): Database {
  return openPostgres({
    kind: "postgres",
    url: "postgres://postgres@127.0.0.1:1/nowhere",
    poolMax: 2,
    idleTimeoutSeconds: 1,
    connectTimeoutSeconds: 2,
    statementTimeoutMs: 1_000,
  });
}
