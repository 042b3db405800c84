import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { clerkEvent, clerkUser, signDelivery } from "../helpers/clerk.js";
import { cliDatabases } from "../helpers/cli.js";
import {
  logLine,
  message,
  openReconcileHarness,
  type ReconcileHarness,
  sample,
  scrape,
} from "../helpers/reconcile-harness.js";
import { healthStatus } from "../helpers/service-process.js";

/**
 * The scheduled reconcile of the real server (a child process) against the fake Clerk Backend API with latency:
 * nothing delivered by webhook, everything brought in by the schedule.
 */

const TIMEOUT = 90_000;
const INTERVAL = 2;

describe.each(cliDatabases({ pooler: true }))("scheduled reconcile on $name", ({ open }) => {
  let h: ReconcileHarness;
  beforeEach(async () => {
    h = await openReconcileHarness(await open());
    h.api.latencyMs = 20;
  });
  afterEach(() => h?.close());

  test(
    "users whose deliveries were refused (a wrong signing secret) are there within one interval, with their workspaces; the repairs are counted",
    async () => {
      const ids = h.signUp(7);
      const organization = h.organizationInClerk();
      h.membershipInClerk(organization, { userId: ids[0] as string });
      const service = await h.serve(INTERVAL);
      await logLine(service, message("scheduled reconcile on"), 1_000);
      const wrongSecret = `whsec_${Buffer.from("another endpoint's secret, 32 bytes!").toString("base64")}`;
      const user = h.api.users.get(ids[0] as string) as Record<string, unknown>;
      const refused = await service.post(signDelivery(clerkEvent("user.created", user), { secret: wrongSecret }));
      expect(refused.status).toBe(401);
      const repaired = await logLine(service, message("reconcile repaired"), INTERVAL * 1000 + 15_000);
      // From the server's start: the first run one interval later, and the run itself (a few requests).
      const listening = await logLine(service, message("listening"), 0);
      const seconds = (Number(repaired.time) - Number(listening.time)) / 1000;
      expect(seconds, service.output()).toBeGreaterThanOrEqual(INTERVAL - 0.5);
      expect(seconds, service.output()).toBeLessThan(INTERVAL + 8);
      expect(repaired).toMatchObject({
        mode: "incremental",
        status: "completed",
        repaired: { users: 7, organizations: 1, memberships: 1 },
      });
      const metrics = await scrape(service);
      expect(sample(metrics, "clerk_sync_repaired_total", { kind: "user" })).toBe(7);
      expect(sample(metrics, "clerk_sync_repaired_total", { kind: "organization" })).toBe(1);
      expect(sample(metrics, "clerk_sync_repaired_total", { kind: "membership" })).toBe(1);
      expect(sample(metrics, "clerk_sync_repaired_total", { kind: "invitation" })).toBe(0);
      expect(sample(metrics, "clerk_sync_runs_total", { mode: "incremental", outcome: "completed" })).toBe(1);
      expect(sample(metrics, "clerk_sync_last_success_timestamp_seconds")).toBeGreaterThan(Date.now() / 1000 - 60);
      expect(sample(metrics, "clerk_sync_interval_seconds")).toBe(INTERVAL);
      expect(sample(metrics, "clerk_sync_clerk_requests_total")).toBeGreaterThanOrEqual(4);
      expect(sample(metrics, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
      await service.kill();
      const stored = await h.storedUsers();
      expect(stored.map((u) => u.id).sort()).toEqual([...ids].sort());
      expect(stored.every((u) => u.workspaces === 1)).toBe(true);
    },
    TIMEOUT,
  );

  test(
    "a Clerk outage mid-run: logged and counted, the server keeps serving, the next interval finishes the run",
    async () => {
      h.signUp(600);
      h.api.intercept = (request) =>
        request.path === "/v1/users" && Number(request.query.get("offset") ?? 0) > 0 ? { status: 503 } : undefined;
      const service = await h.serve(1);
      const failed = await logLine(service, message("reconcile failed"), 30_000);
      expect(failed).toMatchObject({ code: "clerk_unavailable" });
      expect(sample(await scrape(service), "clerk_sync_runs_total", { mode: "incremental", outcome: "failed" })).toBe(
        1,
      );
      expect(await healthStatus(service)).toBe(200);
      const user = clerkUser();
      const res = await service.post(signDelivery(clerkEvent("user.created", user)));
      expect(res.status, await res.text()).toBe(200);
      h.api.intercept = undefined;
      const resumed = await logLine(service, message("reconcile: resuming run"), 30_000);
      expect(String(resumed.msg), service.output()).toMatch(/at user 500$/);
      await logLine(service, message("reconcile repaired"), 30_000);
      expect(sample(await scrape(service), "clerk_sync_repaired_total", { kind: "user" })).toBe(600);
      await service.kill();
      expect(await h.storedUsers()).toHaveLength(601);
    },
    TIMEOUT,
  );

  test(
    "SIGTERM during a run: the server exits within its grace period, and the next server resumes the run",
    async () => {
      h.signUp(1500);
      h.api.latencyMs = 300;
      let secondPageAsked: () => void = () => {};
      const asked = new Promise<void>((resolve) => {
        secondPageAsked = resolve;
      });
      h.api.beforeAnswer = (request) => {
        if (request.path === "/v1/users" && request.query.get("offset") === "500") secondPageAsked();
      };
      const first = await h.serve(1);
      await asked;
      const signalled = performance.now();
      first.child.kill("SIGTERM");
      const exit = await first.exited;
      expect(exit.code, first.output()).toBe(0);
      expect(performance.now() - signalled).toBeLessThan(10_000);
      await logLine(first, (line) => line.status === "interrupted", 0);
      h.api.beforeAnswer = undefined;
      h.api.latencyMs = 20;
      const second = await h.serve(1);
      const resumed = await logLine(second, message("reconcile: resuming run"), 30_000);
      expect(String(resumed.msg)).toMatch(/at user (500|1000)$/);
      await logLine(second, message("reconcile repaired"), 60_000);
      await second.kill();
      const stored = await h.storedUsers();
      expect(stored).toHaveLength(1500);
      expect(stored.every((u) => u.workspaces === 1)).toBe(true);
    },
    TIMEOUT,
  );

  test(
    "a full sync (never pruning) when the last one is FULL_SYNC_INTERVAL_SECONDS old; incremental runs in between",
    async () => {
      h.signUp(3);
      // Stored here, unknown to Clerk: a pruning sync would remove it.
      await h.deliver(["user.created", clerkUser()]);
      const service = await h.serve(1, { FULL_SYNC_INTERVAL_SECONDS: "2" });
      await logLine(service, (line) => line.msg === "reconcile started" && line.mode === "incremental", 15_000);
      const full = await logLine(service, (line) => line.mode === "full" && line.status === "completed", 30_000);
      expect(full.runId).toBeGreaterThan(1);
      const metrics = await scrape(service);
      expect(sample(metrics, "clerk_sync_runs_total", { mode: "full", outcome: "completed" })).toBeGreaterThanOrEqual(
        1,
      );
      expect(h.api.requests.filter((r) => r.query.get("order_by") === "+created_at").length).toBeGreaterThan(0);
      await service.kill();
      expect(await h.storedUsers()).toHaveLength(4);
    },
    TIMEOUT,
  );

  test(
    "off, and the start-up log says why, without CLERK_SECRET_KEY or with SYNC_INTERVAL_SECONDS=0; a bad value stops the start",
    async () => {
      const noKey = await h.serve(1, { CLERK_SECRET_KEY: "" });
      await logLine(noKey, message("scheduled reconcile off: CLERK_SECRET_KEY is unset"), 1_000);
      expect(sample(await scrape(noKey), "clerk_sync_interval_seconds")).toBe(0);
      await noKey.kill();
      const zero = await h.serve(0);
      await logLine(zero, message("scheduled reconcile off (SYNC_INTERVAL_SECONDS=0)"), 1_000);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(h.api.requests).toHaveLength(0);
      await zero.kill();
      await expect(h.serve(5, { FULL_SYNC_INTERVAL_SECONDS: "1e3" })).rejects.toThrow(/FULL_SYNC_INTERVAL_SECONDS/);
    },
    TIMEOUT,
  );
});
