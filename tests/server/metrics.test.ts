import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createApp } from "../../src/app.js";
import { createLogger } from "../../src/logger.js";
import { createMetrics } from "../../src/metrics.js";
import { clerkEvent, clerkUser, fixture, newSvixId, newUserId, signDelivery, TEST_SECRET } from "../helpers/clerk.js";
import { clerkMembership, clerkOrganization } from "../helpers/clerk-organizations.js";
import { clerkInvitation, clerkPermission, clerkRole } from "../helpers/clerk-teams.js";
import { drivers } from "../helpers/database.js";
import { createHarness, describeResponse, type Harness } from "../helpers/harness.js";

/** The value of one sample line of the Prometheus text, e.g. `clerk_deliveries_total{type="user.created",outcome="provisioned"}`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split("\n")) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = (match[2] ?? "").split(",");
    if (wanted.every((pair) => present.includes(pair))) return Number(match[3]);
  }
  return undefined;
}

describe.each(drivers())("GET /metrics on $name", ({ open }) => {
  let h: Harness;
  beforeAll(async () => {
    h = createHarness(await open());
  });
  afterAll(() => h.close());

  const scrape = async () => {
    const res = await h.app.request("/metrics");
    expect(res.status, await describeResponse(res)).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  test("counts deliveries by event type and outcome, and observes provisioning latency", async () => {
    const id = newUserId();
    const svixId = newSvixId();
    const created = clerkEvent("user.created", clerkUser({ id }));
    await h.deliver(created, { svixId });
    await h.deliver(created, { svixId });
    await h.deliver(clerkEvent("user.updated", clerkUser({ id, updatedAt: 1 })));
    await h.deliver(fixture("session.created"));
    await h.deliver(clerkEvent("user.created", clerkUser({ email: null })));
    await h.deliver(clerkEvent("user.deleted", { id, object: "user", deleted: true }));
    await h.post({ ...signDelivery(created), body: `${JSON.stringify(created)} ` }); // tampered: 401
    await h.deliver(clerkEvent("user.created", { ...clerkUser(), updated_at: "soon" })); // 422

    const text = await scrape();
    const count = (type: string, outcome: string) => sample(text, "clerk_deliveries_total", { type, outcome });
    expect(count("user.created", "provisioned")).toBe(1);
    expect(count("user.created", "duplicate")).toBe(1);
    expect(count("user.updated", "stale")).toBe(1);
    expect(count("other", "ignored")).toBe(1);
    expect(count("user.created", "skipped")).toBe(1);
    expect(count("user.deleted", "deleted")).toBe(1);
    expect(count("unknown", "invalid")).toBe(2);
    expect(sample(text, "clerk_provisioning_duration_seconds_count", { type: "user.created" })).toBe(3);
    expect(sample(text, "clerk_provisioning_duration_seconds_bucket", { type: "user.created", le: "+Inf" })).toBe(3);
  });

  test("counts organization and membership deliveries by their type and outcome", async () => {
    const organization = clerkOrganization({ updatedAt: 2_000 });
    const id = organization.id as string;
    const membership = clerkMembership({ organizationId: id, userId: newUserId(), organization, updatedAt: 3_000 });
    const before = await scrape();
    const svixId = newSvixId();
    const answers = [
      await h.deliver(clerkEvent("organization.created", organization), { svixId }),
      await h.deliver(clerkEvent("organization.created", organization), { svixId }), // the same delivery again
      await h.deliver(clerkEvent("organization.updated", { ...organization, updated_at: 1_000 })), // older
      await h.deliver(clerkEvent("organizationMembership.created", membership)),
      await h.deliver(clerkEvent("organizationMembership.deleted", membership)),
      await h.deliver(clerkEvent("organizationMembership.updated", { ...membership, updated_at: 4_000 })), // deleted id
      await h.deliver(clerkEvent("organization.deleted", { id, object: "organization", deleted: true })),
      await h.deliver(clerkEvent("organizationMembership.created", { ...membership, role: 7 })), // 422
    ];
    expect(answers.map((res) => res.status)).toEqual([200, 200, 200, 200, 200, 200, 200, 422]);
    const after = await scrape();
    const delta = (type: string, outcome: string) =>
      (sample(after, "clerk_deliveries_total", { type, outcome }) ?? 0) -
      (sample(before, "clerk_deliveries_total", { type, outcome }) ?? 0);
    expect(delta("organization.created", "provisioned")).toBe(1);
    expect(delta("organization.created", "duplicate")).toBe(1);
    expect(delta("organization.updated", "stale")).toBe(1);
    expect(delta("organizationMembership.created", "provisioned")).toBe(1);
    expect(delta("organizationMembership.deleted", "deleted")).toBe(1);
    expect(delta("organizationMembership.updated", "stale")).toBe(1);
    expect(delta("organization.deleted", "deleted")).toBe(1);
    expect(delta("unknown", "invalid")).toBe(1); // as for any payload that fails validation
    const observed = (text: string) =>
      sample(text, "clerk_provisioning_duration_seconds_count", { type: "organizationMembership.created" }) ?? 0;
    expect(observed(after) - observed(before)).toBeGreaterThanOrEqual(1);
  });

  test("counts invitation, role and permission deliveries by their type and outcome", async () => {
    const invitation = clerkInvitation({ organizationId: clerkOrganization().id as string, updatedAt: 2_000 });
    const role = clerkRole({ key: "org:metrics_role", permissions: ["org:a"] });
    const permission = clerkPermission({ key: "org:metrics:read" });
    const before = await scrape();
    const answers = [
      await h.deliver(clerkEvent("organizationInvitation.created", invitation)),
      await h.deliver(
        clerkEvent("organizationInvitation.revoked", { ...invitation, status: "revoked", updated_at: 3_000 }),
      ),
      await h.deliver(clerkEvent("organizationInvitation.accepted", { ...invitation, updated_at: 1_000 })), // older
      await h.deliver(clerkEvent("role.created", role)),
      await h.deliver(clerkEvent("role.deleted", { object: "role", id: role.id, deleted: true })),
      await h.deliver(clerkEvent("permission.created", permission)),
      await h.deliver(clerkEvent("permission.updated", { ...permission, updated_at: 1 })), // older
      await h.deliver(clerkEvent("permission.deleted", { object: "permission", id: permission.id, deleted: true })),
    ];
    expect(answers.map((res) => res.status)).toEqual([200, 200, 200, 200, 200, 200, 200, 200]);
    const after = await scrape();
    const delta = (type: string, outcome: string) =>
      (sample(after, "clerk_deliveries_total", { type, outcome }) ?? 0) -
      (sample(before, "clerk_deliveries_total", { type, outcome }) ?? 0);
    expect(delta("organizationInvitation.created", "provisioned")).toBe(1);
    expect(delta("organizationInvitation.revoked", "provisioned")).toBe(1);
    expect(delta("organizationInvitation.accepted", "stale")).toBe(1);
    expect(delta("role.created", "provisioned")).toBe(1);
    expect(delta("role.deleted", "deleted")).toBe(1);
    expect(delta("permission.created", "provisioned")).toBe(1);
    expect(delta("permission.updated", "stale")).toBe(1);
    expect(delta("permission.deleted", "deleted")).toBe(1);
  });

  test("reports the database calls in flight against the pool's size, while a delivery runs and after", async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started: () => void = () => {};
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    const metrics = createMetrics({ poolMax: 7 });
    const app = createApp({
      db: h.database.db,
      webhookSigningSecret: TEST_SECRET,
      logger: createLogger("silent"),
      metrics,
      applyEvent: async () => {
        started();
        await held;
        return "provisioned";
      },
    });
    const scrapeApp = async () => (await app.request("/metrics")).text();
    const delivery = signDelivery(clerkEvent("user.created", clerkUser()));
    const answer = app.request("/webhooks/clerk", { method: "POST", body: delivery.body, headers: delivery.headers });
    await running;
    const during = await scrapeApp();
    expect(sample(during, "clerk_db_calls_in_flight", {})).toBe(1);
    expect(sample(during, "clerk_db_pool_max", {})).toBe(7);
    release();
    expect((await answer).status).toBe(200);
    expect(sample(await scrapeApp(), "clerk_db_calls_in_flight", {})).toBe(0);
  });

  test("the metrics text holds no user data", async () => {
    const email = `metrics.${newUserId()}@example.com`;
    await h.deliver(clerkEvent("user.created", clerkUser({ email, firstName: "Metrix" })));
    const text = await scrape();
    expect(text).not.toContain("@");
    expect(text).not.toContain("Metrix");
  });
});
