import { afterAll, beforeAll, describe, expect, test } from "vitest";
import journal from "../migrations/meta/_journal.json" with { type: "json" };
import { createApp } from "../src/app.js";
import { createLogger } from "../src/logger.js";
import { TEST_SECRET } from "./helpers/clerk.js";
import { drivers, migrationsBefore, openUnreachablePostgres, type TestDatabase } from "./helpers/database.js";
import { createHarness, describeResponse, type Harness } from "./helpers/harness.js";
import { terminateServiceBackends } from "./helpers/postgres-backends.js";

interface HealthBody {
  healthy: boolean;
  checks: {
    connection: boolean;
    users_table: boolean;
    workspaces_table: boolean;
    constraints: boolean;
    migrations: boolean;
  };
  missing_migrations?: string[];
  timestamp: string;
}

const ALL_TRUE = { connection: true, users_table: true, workspaces_table: true, constraints: true, migrations: true };
const ALL_FALSE = {
  connection: false,
  users_table: false,
  workspaces_table: false,
  constraints: false,
  migrations: false,
};
const TAGS = journal.entries.map((entry) => entry.tag);
/** The migrations from `tag` on. */
const tagsFrom = (tag: string) => TAGS.slice(TAGS.indexOf(tag));

/**
 * GET /health: the status, and a body of exactly `healthy`, `checks` and an ISO timestamp (no error text), and
 * `missing_migrations` exactly when some are known to be missing.
 */
async function health(app: { request: (path: string) => Response | Promise<Response> }) {
  const res = await app.request("/health");
  const described = await describeResponse(res);
  expect(res.headers.get("content-type"), described).toMatch(/^application\/json/);
  const body = (await res.json()) as HealthBody;
  const missingKnown = body.checks.connection && !body.checks.migrations;
  const keys = ["checks", "healthy", ...(missingKnown ? ["missing_migrations"] : []), "timestamp"];
  expect(Object.keys(body).sort(), described).toEqual(keys);
  expect(Object.keys(body.checks).sort(), described).toEqual(Object.keys(ALL_TRUE).sort());
  expect(new Date(body.timestamp).toISOString(), described).toBe(body.timestamp);
  expect(described).not.toMatch(/error|exception|ECONN|refused|PGlite|relation|does not exist|stack|at \//i);
  return { status: res.status, body, described };
}

async function expectHealth(app: Parameters<typeof health>[0], status: number, checks: HealthBody["checks"]) {
  const { status: actual, body, described } = await health(app);
  expect(actual, described).toBe(status);
  expect(body.checks, described).toEqual(checks);
  expect(body.healthy, described).toBe(status === 200);
  return body;
}

describe.each(drivers())("GET /health on $name", ({ name, open }) => {
  let h: Harness;
  beforeAll(async () => {
    h = createHarness(await open());
  });
  afterAll(() => h.close());

  /** A database of its own for a test that breaks the schema. */
  async function withScratch(run: (scratch: Harness, database: TestDatabase) => Promise<void>) {
    const database = await open();
    try {
      await run(createHarness(database), database);
    } finally {
      await database.close();
    }
  }

  test("200, healthy, all five checks true, an ISO timestamp taken during the request", async () => {
    const before = Date.now();
    const { status, body, described } = await health(h.app);
    expect(status, described).toBe(200);
    expect(body).toEqual({ healthy: true, checks: ALL_TRUE, timestamp: expect.any(String) });
    const at = Date.parse(body.timestamp);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now());
  });

  test("unique_user_workspace dropped: 503 with constraints false", async () => {
    await withScratch(async (scratch, database) => {
      await expectHealth(scratch.app, 200, ALL_TRUE);
      await database.query("ALTER TABLE workspaces DROP CONSTRAINT unique_user_workspace");
      await expectHealth(scratch.app, 503, { ...ALL_TRUE, constraints: false });
    });
    await expectHealth(h.app, 200, ALL_TRUE);
  });

  test("unique_user_workspace replaced by another constraint of that name: constraints false", async () => {
    await withScratch(async (scratch, database) => {
      await database.query("ALTER TABLE workspaces DROP CONSTRAINT unique_user_workspace");
      for (const definition of ["UNIQUE (name)", "UNIQUE (user_id, name)", "CHECK (user_id IS NOT NULL)"]) {
        await database.query(`ALTER TABLE workspaces ADD CONSTRAINT unique_user_workspace ${definition}`);
        await expectHealth(scratch.app, 503, { ...ALL_TRUE, constraints: false });
        await database.query("ALTER TABLE workspaces DROP CONSTRAINT unique_user_workspace");
      }
      await database.query("ALTER TABLE workspaces ADD CONSTRAINT unique_user_workspace UNIQUE (user_id)");
      await expectHealth(scratch.app, 200, ALL_TRUE);
    });
  });

  test("users renamed: 503 with users_table false; renamed back: 200 again", async () => {
    await withScratch(async (scratch, database) => {
      await database.query("ALTER TABLE users RENAME TO users_renamed");
      await expectHealth(scratch.app, 503, { ...ALL_TRUE, users_table: false });
      await database.query("ALTER TABLE users_renamed RENAME TO users");
      await expectHealth(scratch.app, 200, ALL_TRUE);
    });
  });

  test("workspaces renamed: 503 with workspaces_table and constraints false", async () => {
    await withScratch(async (scratch, database) => {
      await database.query("ALTER TABLE workspaces RENAME TO workspaces_renamed");
      await expectHealth(scratch.app, 503, { ...ALL_TRUE, workspaces_table: false, constraints: false });
    });
  });

  test("a users table in another schema does not count", async () => {
    await withScratch(async (scratch, database) => {
      await database.query("CREATE SCHEMA other");
      await database.query("ALTER TABLE users SET SCHEMA other");
      await expectHealth(scratch.app, 503, { ...ALL_TRUE, users_table: false });
    });
  });

  test("without migrations 0004 and later (a failed deploy, an old backup): 503 naming each; migrated: 200", async () => {
    const database = await open({ migrationsFolder: migrationsBefore("0004_organizations") });
    try {
      const scratch = createHarness(database);
      // The seed's tables and constraint are there: only the migrations check sees what is missing.
      const body = await expectHealth(scratch.app, 503, { ...ALL_TRUE, migrations: false });
      expect(body.missing_migrations).toEqual(tagsFrom("0004_organizations"));
      expect(body.missing_migrations).toContain("0009_sync_organizations");
      await database.migrate();
      await expectHealth(scratch.app, 200, ALL_TRUE);
    } finally {
      await database.close();
    }
  });

  test("only the newest migration missing: 503 naming it alone", async () => {
    const newest = TAGS.at(-1) as string;
    const database = await open({ migrationsFolder: migrationsBefore(newest) });
    try {
      const body = await expectHealth(createHarness(database).app, 503, { ...ALL_TRUE, migrations: false });
      expect(body.missing_migrations).toEqual([newest]);
    } finally {
      await database.close();
    }
  });

  test("no record of any migration (drizzle's table gone): 503 naming every one", async () => {
    await withScratch(async (scratch, database) => {
      await database.query("DROP SCHEMA drizzle CASCADE");
      const body = await expectHealth(scratch.app, 503, { ...ALL_TRUE, migrations: false });
      expect(body.missing_migrations).toEqual(TAGS);
    });
  });

  test.runIf(name === "pglite")("the embedded database closed: 503 with connection false", async () => {
    const database = await open();
    const scratch = createHarness(database);
    await expectHealth(scratch.app, 200, ALL_TRUE);
    await database.close();
    await expectHealth(scratch.app, 503, ALL_FALSE);
  });

  test.runIf(name === "postgres")("the pool's backends killed: the next check reconnects and is healthy", async () => {
    await expectHealth(h.app, 200, ALL_TRUE);
    expect(await terminateServiceBackends(h.database)).toBeGreaterThan(0);
    // A check on a connection whose close postgres.js has not read yet may say connection:false; one more must not.
    const first = await health(h.app);
    if (first.status !== 200) expect(first.body.checks, first.described).toEqual(ALL_FALSE);
    await expectHealth(h.app, 200, ALL_TRUE);
  });
});

describe("GET /health with nothing listening at the PostgreSQL URL", () => {
  test("503 with connection false, and no driver error text", async () => {
    const database = openUnreachablePostgres();
    try {
      const app = createApp({ db: database.db, webhookSigningSecret: TEST_SECRET, logger: createLogger("silent") });
      await expectHealth(app, 503, ALL_FALSE);
    } finally {
      await database.close();
    }
  });
});
