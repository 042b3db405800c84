import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { drivers, type Query, type TestDatabase } from "../helpers/database.js";

/**
 * What a Supabase project sets up before our first migration: the roles, and default privileges that grant anon and
 * authenticated ALL on every new table, sequence and function in public (for the role that runs the migrations).
 */
const SUPABASE_DEFAULTS = `
DO $$
DECLARE role_name text;
BEGIN
  FOREACH role_name IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', role_name);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
      END;
    END IF;
  END LOOP;
END
$$;
GRANT USAGE ON SCHEMA public TO anon, authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated;
`;

/** Exactly what the row-level security design lets the Data API roles do (README, CONTRACT). */
const ALLOWED = new Set([
  "authenticated SELECT users",
  "authenticated SELECT workspaces",
  "authenticated SELECT organizations",
  "authenticated SELECT organization_memberships",
  "authenticated SELECT subscription_items",
  "authenticated SELECT organization_invitations",
  "authenticated SELECT organization_seats",
  "authenticated SELECT roles",
  "authenticated SELECT permissions",
]);
const ALLOWED_COLUMNS = new Set(["authenticated UPDATE workspaces.name"]);

describe.each(drivers())("privileges after migrating a database with Supabase's defaults, on $name", ({ open }) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await open({ beforeMigrate: SUPABASE_DEFAULTS });
  });
  afterAll(() => database?.close());

  test("the defaults were really in force (the test would see an open table otherwise)", async () => {
    await database.query("CREATE TABLE public.probe_default_privileges (id int)");
    const [row] = await database.query<{ open: boolean }>(
      "SELECT has_table_privilege('anon', 'public.probe_default_privileges', 'TRUNCATE') AS open",
    );
    await database.query("DROP TABLE public.probe_default_privileges");
    expect(row?.open).toBe(true);
  });

  test("every table, view and sequence in public: anon and authenticated hold only what the design grants", async () => {
    const granted = await database.query<{ grant: string }>(`
      SELECT r.role || ' ' || p.privilege || ' ' || c.relname AS grant
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      CROSS JOIN (VALUES ('anon'), ('authenticated')) AS r(role)
      CROSS JOIN (VALUES ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')) AS p(privilege)
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        AND has_table_privilege(r.role, c.oid, p.privilege)
      UNION ALL
      SELECT r.role || ' ' || p.privilege || ' ' || c.relname
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      CROSS JOIN (VALUES ('anon'), ('authenticated')) AS r(role)
      CROSS JOIN (VALUES ('USAGE'), ('SELECT'), ('UPDATE')) AS p(privilege)
      WHERE n.nspname = 'public' AND c.relkind = 'S' AND has_sequence_privilege(r.role, c.oid, p.privilege)`);
    expect(granted.map((row) => row.grant).filter((grant) => !ALLOWED.has(grant))).toEqual([]);
    expect(granted.map((row) => row.grant).sort()).toEqual([...ALLOWED].sort());

    const columns = await database.query<{ grant: string }>(`
      SELECT grantee || ' ' || privilege_type || ' ' || table_name || '.' || column_name AS grant
      FROM information_schema.column_privileges
      WHERE table_schema = 'public' AND grantee IN ('anon', 'authenticated') AND privilege_type <> 'SELECT'`);
    expect(columns.map((row) => row.grant).sort()).toEqual([...ALLOWED_COLUMNS]);
    const sequences = await database.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = 'public' AND c.relkind = 'S'",
    );
    expect(sequences[0]?.n).toBeGreaterThan(0); // sync_runs_id_seq: the check above covered one
  });

  test("functions: of ours only the row-level security helpers, and only for authenticated; auth.jwt() still is", async () => {
    const executable = await database.query<{ fn: string }>(`
      SELECT r.role || ' ' || p.oid::regprocedure::text AS fn
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      CROSS JOIN (VALUES ('anon'), ('authenticated')) AS r(role)
      WHERE n.nspname IN ('public', 'private') AND has_function_privilege(r.role, p.oid, 'EXECUTE')`);
    expect(executable.map((row) => row.fn).sort()).toEqual([
      "authenticated private.active_organization_id()",
      "authenticated private.has_org_permission(text,text)",
      "authenticated private.has_org_role(text,text)",
      "authenticated private.my_organization_ids()",
    ]);
    const [jwt] = await database.query<{ ok: boolean }>(
      "SELECT has_function_privilege('authenticated', 'auth.jwt()', 'EXECUTE') AS ok",
    );
    expect(jwt?.ok).toBe(true);
  });

  const asAnon = <T>(work: (query: Query) => Promise<T>) =>
    database.transaction(async (query) => {
      await query("SET LOCAL ROLE anon");
      return work(query);
    });

  test.each([
    ["TRUNCATE sync_runs CASCADE", "TRUNCATE sync_runs CASCADE"],
    ["setval on sync_runs_id_seq", "SELECT setval('sync_runs_id_seq', 1000)"],
    ["SELECT from sync_run_seen", "SELECT * FROM sync_run_seen"],
    ["SELECT from sync_run_cursors", "SELECT * FROM sync_run_cursors"],
    [
      "INSERT into clerk_deliveries",
      "INSERT INTO clerk_deliveries (delivery_id, event_type, outcome, received_at) VALUES ('x', 'y', 'z', now())",
    ],
    ["private.lock_down_privileges()", "SELECT private.lock_down_privileges()"],
  ])("as anon, %s is refused", async (_, statement) => {
    await expect(asAnon((query) => query(statement))).rejects.toThrow(/permission denied/);
  });
});
