import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { clerkUser, newSvixId, type UserOptions } from "../helpers/clerk.js";
import { cliDatabases, expectExit, jsonOf, runCli } from "../helpers/cli.js";
import {
  applyEvent,
  type ClerkEventInput,
  type ClerkJson,
  type CommandHarness,
  openCommandHarness,
} from "../helpers/sync-harness.js";

interface ReplaySummary {
  dryRun: boolean;
  status: "completed" | "interrupted";
  selected: number;
  counts: Record<string, number>;
  deliveries: { deliveryId: string; userId: string; before: string; after: string }[];
}

const TIMEOUT = 120_000;

describe.each(cliDatabases())("npm run replay on $name", ({ name, open }) => {
  let h: CommandHarness;
  beforeEach(async () => {
    h = await openCommandHarness(await open());
  });
  afterEach(() => h?.close());

  const user = (options: UserOptions = {}): ClerkJson => {
    const raw = clerkUser(options);
    return { ...raw, id: raw.id as string };
  };
  /** Clerk's current state of a user. */
  const inClerk = (json: ClerkJson) => h.api.users.set(json.id, json);
  const replay = (args: string[] = [], extra: Record<string, string> = {}) =>
    runCli("replay", ["--json", ...args], h.env(extra));
  /** Webhook deliveries through the service's code; each one's svix id and outcome. */
  const deliver = (...events: ClerkEventInput[]) =>
    h.database.withDb(async (db) => {
      const out: { svixId: string; outcome: string }[] = [];
      for (const event of events) {
        const svixId = newSvixId();
        out.push({ svixId, outcome: await applyEvent(db, event, svixId) });
      }
      return out;
    });
  const deliveryRow = async (svixId: string) =>
    (
      await h.database.query<{ outcome: string; reason: string | null; replayed: boolean }>(
        "SELECT outcome, reason, replayed_at IS NOT NULL AS replayed FROM clerk_deliveries WHERE delivery_id = $1",
        [svixId],
      )
    )[0];
  const account = async (id: string) =>
    (
      await h.database.query<{ email: string; username: string; workspaces: number }>(
        `SELECT u.email, u.username, (SELECT count(*)::int FROM workspaces w WHERE w.user_id = u.id) AS workspaces
         FROM users u WHERE u.id = $1`,
        [id],
      )
    )[0];

  test(
    "a delivery skipped for want of an e-mail is provisioned once the user has one in Clerk; the row records it",
    async () => {
      const noEmail = user({ email: null, updatedAt: 100 });
      const [skipped] = await deliver(["user.created", noEmail]);
      expect(skipped?.outcome).toBe("skipped");
      // Fixed in Clerk: the user added an address (and its user.updated webhook was lost).
      const fixed = user({ id: noEmail.id, email: "Found@Example.com", updatedAt: 200 });
      inClerk(fixed);

      const result = await replay();
      expectExit(result, 0);
      expect(jsonOf<ReplaySummary>(result)).toEqual({
        dryRun: false,
        status: "completed",
        selected: 1,
        counts: { provisioned: 1 },
        deliveries: [
          { deliveryId: skipped?.svixId, userId: noEmail.id, before: "skipped:no_usable_email", after: "provisioned" },
        ],
      });
      expect(await account(noEmail.id)).toEqual({ email: "found@example.com", username: "found", workspaces: 1 });
      expect(await deliveryRow(skipped?.svixId as string)).toEqual({
        outcome: "provisioned",
        reason: null,
        replayed: true,
      });
      // The Backend API was asked for the users by id, 100 at most per request.
      expect(h.api.requests.find((r) => r.path === "/v1/users")?.query.getAll("user_id")).toEqual([noEmail.id]);

      const again = await runCli("replay", [], h.env());
      expectExit(again, 0);
      expect(again.stdout).toBe("replay: no skipped or failed deliveries to replay\n");
    },
    TIMEOUT,
  );

  // PGlite is one process's database: no second replay runs beside this one there.
  test.runIf(name !== "pglite")(
    "a delivery another replay took while this one asked Clerk is `duplicate`, left as that replay recorded it, and exit 0",
    async () => {
      const noEmail = user({ email: null, updatedAt: 100 });
      const [skipped] = await deliver(["user.created", noEmail]);
      inClerk(user({ id: noEmail.id, email: "taken@example.com", updatedAt: 200 }));
      h.api.beforeAnswer = async (request) => {
        if (request.path !== "/v1/users") return;
        await h.database.query(
          "UPDATE clerk_deliveries SET outcome = 'provisioned', reason = NULL, replayed_at = now() WHERE delivery_id = $1",
          [skipped?.svixId],
        );
      };

      const result = await replay();
      expectExit(result, 0);
      expect(jsonOf<ReplaySummary>(result)).toMatchObject({
        status: "completed",
        selected: 1,
        counts: { duplicate: 1 },
        deliveries: [{ deliveryId: skipped?.svixId, before: "skipped:no_usable_email", after: "duplicate" }],
      });
      expect(await deliveryRow(skipped?.svixId as string)).toEqual({
        outcome: "provisioned",
        reason: null,
        replayed: true,
      });
    },
    TIMEOUT,
  );

  test(
    "still no e-mail stays skipped (exit 4); gone from Clerk keeps its outcome (not_in_clerk); deleted here or newer stored is stale",
    async () => {
      const stillNone = user({ email: null });
      const goneFromClerk = user({ email: null });
      const deletedHere = user({ email: null });
      const newerStored = user({ email: null, updatedAt: 100 });
      const newerState = user({ id: newerStored.id, firstName: "Newer", updatedAt: 300 });
      const [a, b, c, d] = await deliver(
        ["user.created", stillNone],
        ["user.created", goneFromClerk],
        ["user.created", deletedHere],
        ["user.created", newerStored],
      );
      // deletedHere: its user.deleted was applied; newerStored: a newer update (with an e-mail) was provisioned.
      await deliver(
        ["user.deleted", { id: deletedHere.id, deleted: true, object: "user" }],
        ["user.updated", newerState],
      );
      inClerk(stillNone);
      inClerk(deletedHere); // Clerk still answering for it must not bring it back
      inClerk(user({ id: newerStored.id, firstName: "Older", updatedAt: 200 })); // older than what is stored

      const result = await replay();
      expectExit(result, 4);
      const summary = jsonOf<ReplaySummary>(result);
      expect(summary.counts).toEqual({ "skipped:no_usable_email": 1, "skipped:not_in_clerk": 1, stale: 2 });
      expect(Object.fromEntries(summary.deliveries.map((x) => [x.deliveryId, x.after]))).toEqual({
        [a?.svixId as string]: "skipped:no_usable_email",
        [b?.svixId as string]: "skipped:not_in_clerk",
        [c?.svixId as string]: "stale",
        [d?.svixId as string]: "stale",
      });
      expect(await deliveryRow(b?.svixId as string)).toEqual({
        outcome: "skipped",
        reason: "not_in_clerk",
        replayed: true,
      });
      expect(await deliveryRow(c?.svixId as string)).toEqual({ outcome: "stale", reason: null, replayed: true });
      expect(await account(deletedHere.id)).toBeUndefined();
      expect(await h.database.query("SELECT first_name FROM users WHERE id = $1", [newerStored.id])).toEqual([
        { first_name: "Newer" },
      ]);

      const human = await runCli("replay", [], h.env());
      expectExit(human, 4);
      expect(human.stdout).toMatch(/^replay completed: 2 deliveries$/m);
      expect(human.stdout).toMatch(/2 still not provisioned: fix the cause shown/);
    },
    TIMEOUT,
  );

  /** A delivery skipped for want of an e-mail, whose user has one in Clerk by now. */
  const fixable = async () => {
    const noEmail = user({ email: null });
    const [skipped] = await deliver(["user.created", noEmail]);
    inClerk(user({ id: noEmail.id, updatedAt: 2_000_000_000_000 }));
    return skipped?.svixId as string;
  };

  test(
    "--id replays that delivery only",
    async () => {
      const first = user({ email: null });
      const second = user({ email: null });
      const [one, two] = await deliver(["user.created", first], ["user.created", second]);
      inClerk(user({ id: first.id, updatedAt: 2_000_000_000_000 }));
      inClerk(user({ id: second.id, updatedAt: 2_000_000_000_000 }));

      const result = await replay(["--id", one?.svixId as string]);
      expectExit(result, 0);
      expect(jsonOf<ReplaySummary>(result)).toMatchObject({ selected: 1, counts: { provisioned: 1 } });
      expect(await deliveryRow(two?.svixId as string)).toEqual({
        outcome: "skipped",
        reason: "no_usable_email",
        replayed: false,
      });
      expect(await account(second.id)).toBeUndefined();
    },
    TIMEOUT,
  );

  test("--id of a delivery that is not recorded exits 2 naming it", async () => {
    const unknown = await replay(["--id", "msg_nope"]);
    expectExit(unknown, 2);
    expect(unknown.stderr).toBe("replay: no delivery msg_nope in clerk_deliveries\n");
  });

  test(
    "--id of a delivery replay has provisioned exits 2: only skipped and failed deliveries are replayed",
    async () => {
      const svixId = await fixable();
      expectExit(await replay(["--id", svixId]), 0);
      const done = await replay(["--id", svixId]);
      expectExit(done, 2);
      expect(done.stderr).toMatch(/is provisioned: only skipped and failed deliveries are replayed/);
    },
    TIMEOUT,
  );

  test("--id without a value exits 2", async () => {
    expectExit(await replay(["--id"]), 2);
  });

  test(
    "a sync failure (e-mail held by a user deleted in Clerk) is provisioned by replay once that user.deleted arrived",
    async () => {
      const holder = user({ email: "shared@example.com" });
      await deliver(["user.created", holder]);
      const claimant = user({ email: "shared@example.com" });
      inClerk({ ...claimant, created_at: 1 });
      const sync = await runCli("sync", ["--json"], h.env());
      expectExit(sync, 4);
      const svixId = `sync:${claimant.id}:${claimant.updated_at}`;
      expect(await deliveryRow(svixId)).toEqual({ outcome: "failed", reason: "email_conflict", replayed: false });

      // Not fixed yet: still failed, exit 4, the row says so.
      const early = await replay();
      expectExit(early, 4);
      expect(jsonOf<ReplaySummary>(early).counts).toEqual({ "failed:email_conflict": 1 });
      expect(await deliveryRow(svixId)).toEqual({ outcome: "failed", reason: "email_conflict", replayed: true });

      await deliver(["user.deleted", { id: holder.id, deleted: true, object: "user" }]);
      const dry = await replay(["--dry-run"]);
      expectExit(dry, 0);
      expect(jsonOf<ReplaySummary>(dry)).toMatchObject({ dryRun: true, counts: { provisioned: 1 } });
      expect(await deliveryRow(svixId)).toMatchObject({ outcome: "failed" });
      expect(await account(claimant.id)).toBeUndefined();

      const fixed = await replay();
      expectExit(fixed, 0);
      expect(jsonOf<ReplaySummary>(fixed).counts).toEqual({ provisioned: 1 });
      expect(await account(claimant.id)).toEqual({ email: "shared@example.com", username: "shared", workspaces: 1 });
      expect(await deliveryRow(svixId)).toEqual({ outcome: "provisioned", reason: null, replayed: true });
    },
    TIMEOUT,
  );

  test(
    "a key Clerk refuses exits 3 and changes nothing",
    async () => {
      const svixId = await fixable();
      const refused = await replay([], { CLERK_SECRET_KEY: "sk_test_wrong" });
      expectExit(refused, 3);
      expect(refused.stderr).toMatch(/Clerk rejected CLERK_SECRET_KEY \(401/);
      expect(await deliveryRow(svixId)).toMatchObject({ outcome: "skipped", replayed: false });
    },
    TIMEOUT,
  );

  test(
    "Clerk's 429 is waited out",
    async () => {
      await fixable();
      let first = true;
      h.api.intercept = (request) => {
        if (request.path !== "/v1/users" || !first) return undefined;
        first = false;
        return { status: 429, headers: { "retry-after": "1" }, body: { errors: [{ code: "too_many_requests" }] } };
      };
      const result = await replay(["--progress", "lines"]);
      expectExit(result, 0);
      expect(jsonOf<ReplaySummary>(result).counts).toEqual({ provisioned: 1 });
      expect(result.stderr).toMatch(/Clerk answered 429: retry 1 in 1s/);
    },
    TIMEOUT,
  );
});
