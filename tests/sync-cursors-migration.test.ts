import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { parseClerkEvent } from "../src/clerk/events.js";
import { MIGRATIONS_FOLDER, openPostgres } from "../src/db/client.js";
import * as schema from "../src/db/schema.js";
import type { Db } from "../src/db/types.js";
import { applyClerkEvent } from "../src/provisioning/apply-clerk-event.js";
import { type FakeClerkApi, startFakeClerkApi, TEST_CLERK_SECRET_KEY } from "../support/fake-clerk-api.js";
import { clerkUser, newSvixId } from "./helpers/clerk.js";
import { clerkMembership, clerkOrganization } from "./helpers/clerk-organizations.js";
import { describeRun, jsonOf, runCli } from "./helpers/cli.js";
import { testDatabaseUrl } from "./helpers/database.js";

/**
 * Migration 0010 (one cursor table and one seen table for every kind): a run interrupted under the old schema (its
 * users listed, its organizations half listed, pruning) resumes where it stopped once the database is migrated.
 */

const TIMEOUT = 120_000;
const BEFORE = "0009_sync_organizations";

/** A copy of migrations/ holding the migrations up to `tag` only (what a database of that age was migrated with). */
function migrationsUpTo(tag: string): { folder: string; remove(): void } {
  const folder = mkdtempSync(join(tmpdir(), "migrations-"));
  mkdirSync(join(folder, "meta"));
  const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, "meta", "_journal.json"), "utf8")) as {
    entries: { tag: string }[];
  };
  const entries = journal.entries.slice(0, journal.entries.findIndex((entry) => entry.tag === tag) + 1);
  for (const entry of entries)
    copyFileSync(join(MIGRATIONS_FOLDER, `${entry.tag}.sql`), join(folder, `${entry.tag}.sql`));
  writeFileSync(join(folder, "meta", "_journal.json"), JSON.stringify({ ...journal, entries }));
  return { folder, remove: () => rmSync(folder, { recursive: true, force: true }) };
}

/** A database migrated up to `BEFORE`, then (`migrate`) to the end, as `npm run db:migrate` or `npm start` would. */
interface AgedDatabase {
  env: Record<string, string>;
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** The service's handle on it, not migrated further. */
  withDb<T>(work: (db: Db) => Promise<T>): Promise<T>;
  migrate(): Promise<void>;
  close(): Promise<void>;
}

async function agedPglite(folder: string): Promise<AgedDatabase> {
  const dir = mkdtempSync(join(tmpdir(), "aged-pglite-"));
  const dataDir = join(dir, "pglite");
  const open = async <T>(work: (client: PGlite) => Promise<T>) => {
    const client = new PGlite(dataDir);
    try {
      return await work(client);
    } finally {
      await client.close();
    }
  };
  await open((client) => migratePglite(drizzlePglite({ client, schema }), { migrationsFolder: folder }));
  return {
    env: { PGLITE_DATA_DIR: dataDir },
    query: <T>(text: string, params: unknown[] = []) =>
      open(async (client) => (await client.query<T>(text, params)).rows),
    withDb: (work) => open((client) => work(drizzlePglite({ client, schema }) as unknown as Db)),
    migrate: () =>
      open((client) => migratePglite(drizzlePglite({ client, schema }), { migrationsFolder: MIGRATIONS_FOLDER })),
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function agedPostgres(adminUrl: string, folder: string): Promise<AgedDatabase> {
  const name = `cp_aged_${Date.now().toString(36)}_${Math.random().toString(16).slice(2, 10)}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const plain = postgres(url.toString(), { max: 2, onnotice: () => {} });
  const migrateWith = (migrationsFolder: string) =>
    migratePostgres(drizzlePostgres({ client: plain, schema }), { migrationsFolder });
  await migrateWith(folder);
  return {
    env: { DATABASE_URL: url.toString() },
    query: async <T>(text: string, params: unknown[] = []) =>
      (await plain.unsafe(text, params as postgres.ParameterOrJSON<never>[])) as unknown as T[],
    withDb: async (work) => {
      const database = openPostgres({
        kind: "postgres",
        url: url.toString(),
        poolMax: 2,
        idleTimeoutSeconds: 5,
        connectTimeoutSeconds: 5,
        statementTimeoutMs: 5_000,
      });
      try {
        return await work(database.db);
      } finally {
        await database.close();
      }
    },
    migrate: () => migrateWith(MIGRATIONS_FOLDER),
    close: async () => {
      await plain.end();
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

const databases: { name: string; open(folder: string): Promise<AgedDatabase> }[] = [
  { name: "pglite", open: agedPglite },
];
const adminUrl = testDatabaseUrl;
if (adminUrl) databases.push({ name: "postgres", open: (folder) => agedPostgres(adminUrl, folder) });

type Json = Record<string, unknown> & { id: string };

describe.each(databases)("migration 0010 on $name", ({ open }) => {
  let api: FakeClerkApi;
  let migrations: ReturnType<typeof migrationsUpTo>;
  let database: AgedDatabase;
  beforeEach(async () => {
    api = await startFakeClerkApi();
    migrations = migrationsUpTo(BEFORE);
    database = await open(migrations.folder);
  });
  afterEach(async () => {
    await api?.close();
    await database?.close();
    migrations?.remove();
  });

  const deliver = (...events: [type: string, data: Record<string, unknown>][]) =>
    database.withDb(async (db) => {
      for (const [type, data] of events) {
        const event = parseClerkEvent({ type, data });
        await applyClerkEvent(db, { deliveryId: newSvixId(), receivedAt: new Date(), event });
      }
    });

  test(
    "a run interrupted mid organization listing under the old schema resumes where it stopped: cursors, listed ids and counts carried over",
    async () => {
      let created = 0;
      const nextCreatedAt = () => 1_700_000_000_000 + created++;
      const users = Array.from({ length: 7 }, () => {
        const raw = clerkUser();
        const user: Json = { ...raw, id: raw.id as string, created_at: nextCreatedAt() };
        api.users.set(user.id, user);
        return user;
      });
      const orgs = Array.from({ length: 12 }, () => {
        const org = clerkOrganization({ createdAt: nextCreatedAt() }) as Json;
        api.organizations.set(org.id, org);
        return org;
      });
      for (const org of orgs.slice(0, 3)) {
        const member = clerkMembership({ organizationId: org.id, userId: users[0]?.id as string, organization: org });
        api.memberships.set(member.id as string, member);
      }
      const ghost = clerkUser() as Json; // stored here, gone from Clerk: the one user to prune
      // What the interrupted run had written: every user, the first five organizations (pages of five).
      await deliver(
        ...[...users, ghost].map((u) => ["user.created", u] as [string, Json]),
        ...orgs.slice(0, 5).map((o) => ["organization.created", o] as [string, Json]),
      );
      await database.query(`INSERT INTO sync_runs (status, prune, phase, counts, finished_at)
        VALUES ('completed', false, 'memberships', '{"unchanged": 3, "organizations:unchanged": 2}', now())`);
      const [run] = await database.query<{ id: number }>(
        `INSERT INTO sync_runs (status, prune, phase, next_offset, total, organization_offset, organization_total, counts)
         VALUES ('interrupted', true, 'organizations', 7, 7, 5, 12, '{"created": 7, "organizations:created": 5}')
         RETURNING id::int`,
      );
      await database.query("INSERT INTO sync_run_users (run_id, user_id) SELECT $1, unnest($2::text[])", [
        run?.id,
        users.map((u) => u.id),
      ]);
      await database.query(
        "INSERT INTO sync_run_objects (run_id, kind, object_id) SELECT $1, 'organizations', unnest($2::text[])",
        [run?.id, orgs.slice(0, 5).map((o) => o.id)],
      );

      await database.migrate();
      expect(
        await database.query("SELECT run_id::int, kind, next_offset, total FROM sync_run_cursors ORDER BY kind"),
      ).toEqual([
        { run_id: run?.id, kind: "memberships", next_offset: 0, total: null },
        { run_id: run?.id, kind: "organizations", next_offset: 5, total: 12 },
        { run_id: run?.id, kind: "users", next_offset: 7, total: 7 },
      ]);
      expect(
        await database.query("SELECT kind, count(*)::int AS n FROM sync_run_seen GROUP BY kind ORDER BY kind"),
      ).toEqual([
        { kind: "organizations", n: 5 },
        { kind: "users", n: 7 },
      ]);
      expect(await database.query("SELECT counts FROM sync_runs ORDER BY id")).toEqual([
        { counts: { "users:unchanged": 3, "organizations:unchanged": 2 } },
        { counts: { "users:created": 7, "organizations:created": 5 } },
      ]);

      const env = { ...database.env, CLERK_SECRET_KEY: TEST_CLERK_SECRET_KEY, CLERK_API_URL: api.url };
      const resumed = await runCli("sync", ["--json", "--prune", "--page-size", "5"], env);
      expect(resumed.code, describeRun(resumed)).toBe(0);
      expect(jsonOf(resumed)).toMatchObject({
        status: "completed",
        runId: run?.id,
        resumedAt: 7,
        listed: 0,
        created: 7,
        // The users the old run listed are not candidates: only the ghost is.
        prune: { candidates: 1, gone: 1, ids: [ghost.id] },
        organizations: { resumedAt: 5, listed: 7, created: 12, prune: { candidates: 0, gone: 0 } },
        memberships: { listed: 3, created: 3 },
      });
      const listings = api.requests.filter((r) => r.query.has("offset") || r.query.has("limit"));
      expect(listings.filter((r) => r.path === "/v1/users" && !r.query.has("user_id"))).toEqual([]);
      expect(listings.filter((r) => r.path === "/v1/organizations").map((r) => r.query.get("offset"))).toEqual([
        "5",
        "10",
      ]);
      expect(await database.query("SELECT count(*)::int AS n FROM organizations")).toEqual([{ n: 12 }]);
      expect(await database.query("SELECT count(*)::int AS n FROM users WHERE id = $1", [ghost.id])).toEqual([
        { n: 0 },
      ]);
    },
    TIMEOUT,
  );
});
