import { randomBytes } from "node:crypto";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { MIGRATIONS_FOLDER } from "../src/db/client.js";
import * as schema from "../src/db/schema.js";

/** What both tests/ and bench/ need beside the service: a fresh migrated database on a server. */

export interface CreatedDatabase {
  name: string;
  url: string;
  serverVersion: string;
  drop(): Promise<void>;
  /** Leaves the database in place (closing the connection `drop` would have used). */
  keep(): Promise<void>;
}

/**
 * A fresh database on the server at `adminUrl`, migrated (from `migrationsFolder`, by default the service's own);
 * `drop` removes it, `keep` leaves it. Tests and benchmarks share this.
 */
export async function createMigratedDatabase(
  adminUrl: string,
  prefix: string,
  beforeMigrate?: string,
  migrationsFolder = MIGRATIONS_FOLDER,
): Promise<CreatedDatabase> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const migrator = postgres(url.toString(), { max: 1, onnotice: () => {} });
  if (beforeMigrate !== undefined) await migrator.unsafe(beforeMigrate);
  await migrate(drizzle({ client: migrator, schema }), { migrationsFolder });
  const [version] = await migrator<{ server_version: string }[]>`SHOW server_version`;
  await migrator.end();
  return {
    name,
    url: url.toString(),
    serverVersion: version?.server_version ?? "?",
    drop: async () => {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
    keep: () => admin.end(),
  };
}
