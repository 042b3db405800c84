import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createApp } from "../src/app.js";
import { createLogger } from "../src/logger.js";
import { createMetrics } from "../src/metrics.js";
import { clerkEvent, clerkUser, fixture, newSvixId, newUserId, signDelivery, TEST_SECRET } from "./helpers/clerk.js";
import { drivers } from "./helpers/database.js";
import { createHarness, describeResponse, type Harness } from "./helpers/harness.js";

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
