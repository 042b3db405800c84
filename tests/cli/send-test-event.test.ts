import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { newUserId, TEST_SECRET } from "../helpers/clerk.js";
import { type CliResult, describeRun, expectExit, runCli } from "../helpers/cli.js";
import { createPostgresDatabase, testDatabaseUrl } from "../helpers/database.js";
import { freePort } from "../helpers/listen.js";
import { type ServiceProcess, startService } from "../helpers/service-process.js";

const TIMEOUT = 60_000;
const ANSWER =
  /^((?:user|organization|organizationMembership|organizationInvitation|role|permission)\.\w+) (user_\w+) \(svix-id msg_[0-9a-f]{24}\) → (\d{3}) (.*)$/m;

function answerOf(result: CliResult) {
  const match = ANSWER.exec(result.stdout);
  if (!match) throw new Error(`no answer line:\n${describeRun(result)}`);
  return { type: match[1], userId: match[2], status: Number(match[3]), body: JSON.parse(match[4] ?? "null") };
}

describe("npm run send-event against npm start on PGlite, with the development secret", () => {
  let dir: string;
  let dataDir: string;
  let service: ServiceProcess;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "send-event-"));
    dataDir = join(dir, "pglite");
    // No CLERK_WEBHOOK_SIGNING_SECRET: the service makes the development secret beside its data directory.
    service = await startService({ env: { PGLITE_DATA_DIR: dataDir, CLERK_WEBHOOK_SIGNING_SECRET: "" } });
  }, TIMEOUT);
  afterAll(async () => {
    await service?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  const sendEvent = (args: string[], env: Record<string, string> = {}) =>
    runCli("send-test-event", args, { PGLITE_DATA_DIR: dataDir, ...env });

  test(
    "created, updated, deleted for one user: signed, posted, the service's answer printed; exit 0",
    async () => {
      const userId = newUserId();
      const url = `${service.url}/webhooks/clerk`;
      const created = await sendEvent([
        "user.created",
        "--user-id",
        userId,
        "--email",
        "ada@example.com",
        "--url",
        url,
      ]);
      expectExit(created, 0);
      expect(answerOf(created)).toEqual({
        type: "user.created",
        userId,
        status: 200,
        body: { received: true, outcome: "provisioned" },
      });
      // Without --url: 127.0.0.1 on PORT, as the service reads it.
      const port = new URL(service.url).port;
      const updated = await sendEvent(["user.updated", "--user-id", userId, "--email", "grace@example.com"], {
        PORT: port,
      });
      expectExit(updated, 0);
      expect(answerOf(updated).body).toEqual({ received: true, outcome: "provisioned" });
      const deleted = await sendEvent(["user.deleted", "--user-id", userId, "--url", url]);
      expect(answerOf(deleted).body).toEqual({ received: true, outcome: "deleted" });
      const late = await sendEvent(["user.created", "--user-id", userId, "--url", url]);
      expectExit(late, 0);
      expect(answerOf(late).body).toEqual({ received: true, outcome: "stale" });
      // The service logged each delivery it verified (its log reaches us through a pipe, after its answer).
      await vi.waitFor(() => {
        const outcomes = service.logs
          .filter((l) => l.msg === "clerk delivery" && l.userId === userId)
          .map((l) => l.outcome);
        expect(outcomes).toEqual(["provisioned", "provisioned", "deleted", "stale"]);
      });
    },
    TIMEOUT,
  );

  test(
    "organization and membership types: created, role changed, removed, organization deleted",
    async () => {
      const url = `${service.url}/webhooks/clerk`;
      const ids = ["--org-id", `org_${newUserId().slice(5)}`, "--user-id", newUserId(), "--url", url];
      const membership = ["--membership-id", `orgmem_${newUserId().slice(5)}`];
      const outcomes: unknown[] = [];
      for (const args of [
        ["organization.created"],
        ["organizationMembership.created", ...membership],
        ["organizationMembership.updated", ...membership, "--role", "org:admin"],
        ["organizationMembership.deleted", ...membership],
        ["organization.deleted"],
      ]) {
        const result = await sendEvent([...args, ...ids]);
        expectExit(result, 0);
        outcomes.push((answerOf(result).body as { outcome: string }).outcome);
      }
      // Sent within the same millisecond, an update can carry the created event's updated_at: equal is not newer.
      expect(outcomes).toEqual([
        "provisioned",
        "provisioned",
        expect.stringMatching(/^(provisioned|stale)$/),
        "deleted",
        "deleted",
      ]);
    },
    TIMEOUT,
  );

  test(
    "invitation, role and permission types: created, accepted, updated, deleted",
    async () => {
      const url = `${service.url}/webhooks/clerk`;
      const invitation = ["--id", `orginv_${newUserId().slice(5)}`, "--org-id", `org_${newUserId().slice(5)}`];
      const role = ["--id", `role_${newUserId().slice(5)}`, "--role", "org:projects_lead"];
      const permission = ["--id", `perm_${newUserId().slice(5)}`, "--permissions", "org:projects:manage"];
      const outcomes: unknown[] = [];
      for (const args of [
        ["organizationInvitation.created", ...invitation],
        ["permission.created", ...permission],
        ["role.created", ...role, "--permissions", "org:projects:manage,org:projects:read"],
        ["role.deleted", ...role],
        ["permission.deleted", ...permission],
      ]) {
        const result = await sendEvent([...args, "--url", url]);
        expectExit(result, 0);
        outcomes.push((answerOf(result).body as { outcome: string }).outcome);
      }
      expect(outcomes).toEqual(["provisioned", "provisioned", "provisioned", "deleted", "deleted"]);
      const accepted = await sendEvent(["organizationInvitation.accepted", ...invitation, "--url", url]);
      expect((answerOf(accepted).body as { outcome: string }).outcome).toMatch(/^(provisioned|stale)$/);
    },
    TIMEOUT,
  );

  test(
    "a random user and address by default",
    async () => {
      const result = await sendEvent(["user.created", "--url", `${service.url}/webhooks/clerk`]);
      expectExit(result, 0);
      expect(answerOf(result)).toMatchObject({ userId: expect.stringMatching(/^user_[0-9a-f]{24}$/), status: 200 });
    },
    TIMEOUT,
  );

  test(
    "a secret the service does not use: its 401 printed, a hint on stderr, exit 1",
    async () => {
      const result = await sendEvent(["user.created", "--url", `${service.url}/webhooks/clerk`], {
        CLERK_WEBHOOK_SIGNING_SECRET: TEST_SECRET,
      });
      expectExit(result, 1);
      expect(answerOf(result)).toMatchObject({ status: 401, body: { error: { code: "invalid_signature" } } });
      expect(result.stderr).toMatch(/refused the signature: it uses another secret/);
    },
    TIMEOUT,
  );

  test(
    "no service listening: exit 1 with a message saying so",
    async () => {
      const url = `http://127.0.0.1:${await freePort()}/webhooks/clerk`;
      const unreachable = await sendEvent(["user.created", "--url", url]);
      expectExit(unreachable, 1);
      expect(unreachable.stderr).toContain(`send-event: could not reach ${url} (ECONNREFUSED): is the service running`);
    },
    TIMEOUT,
  );

  test.each([[[]], [["user.banned"]], [["user.created", "--frobnicate"]], [["user.created", "user.updated"]]])(
    "bad usage (%j): exit 2 with the usage",
    async (args) => {
      const result = await sendEvent(args);
      expectExit(result, 2);
      expect(result.stderr).toMatch(
        /usage: npm run send-event -- <type>[\s\S]*user\.created, user\.updated, user\.deleted, organization\.created|Unknown option/,
      );
    },
    TIMEOUT,
  );

  test(
    "NODE_ENV=production without a signing secret: exit 2 naming CLERK_WEBHOOK_SIGNING_SECRET",
    async () => {
      const url = `http://127.0.0.1:${await freePort()}/webhooks/clerk`;
      const production = await sendEvent(["user.created", "--url", url], { NODE_ENV: "production" });
      expectExit(production, 2);
      expect(production.stderr).toMatch(/CLERK_WEBHOOK_SIGNING_SECRET/);
    },
    TIMEOUT,
  );
});

/** A second Clerk endpoint's secret: the service below is configured with both (`CLERK_WEBHOOK_SIGNING_SECRET`). */
const SECOND_SECRET = `whsec_${Buffer.from("the billing endpoint's secret 32b").toString("base64")}`;

describe.runIf(testDatabaseUrl)("npm run send-event against npm start on PostgreSQL, with configured secrets", () => {
  let service: ServiceProcess;
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
  let sql: postgres.Sql;
  beforeAll(async () => {
    database = await createPostgresDatabase();
    sql = postgres(database.url, { max: 1, onnotice: () => {} });
    service = await startService({
      env: { DATABASE_URL: database.url, CLERK_WEBHOOK_SIGNING_SECRET: `${TEST_SECRET}, ${SECOND_SECRET}` },
    });
  }, TIMEOUT);
  afterAll(async () => {
    await service?.kill();
    await sql?.end();
    await database?.drop();
  });

  test(
    "user.created: one user (the address lower-cased, the username from it) and one workspace; user.deleted removes both",
    async () => {
      const userId = newUserId();
      const env = { CLERK_WEBHOOK_SIGNING_SECRET: TEST_SECRET };
      const url = `${service.url}/webhooks/clerk`;
      const created = await runCli(
        "send-test-event",
        ["user.created", "--user-id", userId, "--email", "Ada.L@Example.com", "--url", url],
        env,
      );
      expectExit(created, 0);
      expect(answerOf(created).body).toEqual({ received: true, outcome: "provisioned" });
      expect(
        await sql`SELECT u.email, u.username, u.first_name, w.name FROM users u JOIN workspaces w ON w.user_id = u.id WHERE u.id = ${userId}`,
      ).toEqual([{ email: "ada.l@example.com", username: "ada_l", first_name: "Example", name: "My Workspace" }]);
      const deleted = await runCli("send-test-event", ["user.deleted", "--user-id", userId, "--url", url], env);
      expect(answerOf(deleted).body).toEqual({ received: true, outcome: "deleted" });
      expect(await sql`SELECT count(*)::int AS n FROM workspaces WHERE user_id = ${userId}`).toEqual([{ n: 0 }]);
      expect(
        await sql`SELECT event_type, outcome FROM clerk_deliveries WHERE clerk_user_id = ${userId} ORDER BY processed_at`,
      ).toEqual([
        { event_type: "user.created", outcome: "provisioned" },
        { event_type: "user.deleted", outcome: "deleted" },
      ]);
    },
    TIMEOUT,
  );

  test(
    "the service holds two endpoints' secrets: an event signed with either is provisioned, with another refused",
    async () => {
      const url = `${service.url}/webhooks/clerk`;
      for (const secret of [SECOND_SECRET, TEST_SECRET, `${TEST_SECRET} ${SECOND_SECRET}`]) {
        const sent = await runCli("send-test-event", ["user.created", "--url", url], {
          CLERK_WEBHOOK_SIGNING_SECRET: secret,
        });
        expect(sent.code, describeRun(sent)).toBe(0);
        expect(answerOf(sent).body).toEqual({ received: true, outcome: "provisioned" });
      }
      const other = `whsec_${Buffer.from("a secret the service does not hold").toString("base64")}`;
      const refused = await runCli("send-test-event", ["user.created", "--url", url], {
        CLERK_WEBHOOK_SIGNING_SECRET: other,
      });
      expect(answerOf(refused)).toMatchObject({ status: 401, body: { error: { code: "invalid_signature" } } });
    },
    TIMEOUT,
  );
});
