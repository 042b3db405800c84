import { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
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
}

export type Query = <T = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<T[]>;

export interface Driver {
  /** "pooler": a database on the TEST_DATABASE_URL server that the service reaches through TEST_POOLER_URL. */
  name: "pglite" | "postgres" | "pooler";
  open(options?: { beforeMigrate?: string }): Promise<TestDatabase>;
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

/** `beforeMigrate`: SQL run on the empty database first (e.g. Supabase's default privileges). */
export async function openTestPglite(options: { beforeMigrate?: string } = {}): Promise<TestDatabase> {
  const database =
    options.beforeMigrate === undefined ? await openPglite(undefined) : await pgliteAfter(options.beforeMigrate);
  const client = (database.db as unknown as { $client: PGlite }).$client;
  return {
    ...database,
    query: async <T>(text: string, params?: unknown[]) => (await client.query<T>(text, params)).rows,
    transaction: (work) =>
      client.transaction((tx) =>
        work(async <T>(text: string, params?: unknown[]) => (await tx.query<T>(text, params)).rows),
      ),
  };
}

async function pgliteAfter(beforeMigrate: string): Promise<Database> {
  const client = new PGlite();
  await client.exec(beforeMigrate);
  const db = drizzlePglite({ client, schema });
  await migratePglite(db, { migrationsFolder: MIGRATIONS_FOLDER });
  return { db, kind: "pglite", close: () => client.close() };
}

/** A database of its own on the TEST_DATABASE_URL server: created and migrated here, dropped on close. */
export function createPostgresDatabase(beforeMigrate?: string): Promise<CreatedDatabase> {
  if (!testDatabaseUrl) throw new Error("TEST_DATABASE_URL is not set");
  return createMigratedDatabase(testDatabaseUrl, "cp_test", beforeMigrate);
}

/**
 * A database of its own, opened with the service's pool (through the pooler with `throughPooler`: created, migrated
 * and asserted on directly, as migrations must be).
 */
export async function openTestPostgres(
  options: Partial<Parameters<typeof openPostgres>[0]> & { beforeMigrate?: string } = {},
  { throughPooler: pooled = false } = {},
): Promise<TestDatabase> {
  const { beforeMigrate, ...poolOptions } = options;
  const created = await createPostgresDatabase(beforeMigrate);
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
