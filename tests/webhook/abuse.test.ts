import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DELIVERY_OUTCOME_LABELS, DELIVERY_TYPE_LABELS } from "../../src/metrics.js";
import { clerkEvent, clerkUser, signDelivery } from "../helpers/clerk.js";
import { drivers } from "../helpers/database.js";
import { createHarness, type Harness } from "../helpers/harness.js";
import { type Listening, listen } from "../helpers/listen.js";

const seriesOf = (text: string, name: string) => text.split("\n").filter((line) => line.startsWith(`${name}{`));

describe.each(drivers())("abusive deliveries on $name", ({ open }) => {
  let h: Harness;
  let server: Listening;
  beforeAll(async () => {
    h = createHarness(await open());
    server = await listen(h.app.fetch);
  });
  afterAll(async () => {
    await server?.close();
    await h?.close();
  });

  const scrape = async () => (await h.app.request("/metrics")).text();

  test("a client that hangs up mid-body is counted as aborted (log code client_closed), not as a database outage", async () => {
    const signed = signDelivery(clerkEvent("user.created", clerkUser()));
    const { port } = new URL(server.url);
    const socket = connect(Number(port), "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    const headers = Object.entries({ ...signed.headers, "content-length": String(signed.body.length) })
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join("");
    socket.write(`POST /webhooks/clerk HTTP/1.1\r\nhost: 127.0.0.1\r\n${headers}\r\n${signed.body.slice(0, 200)}`);
    await sleep(100);
    socket.destroy();

    let line: Record<string, unknown> | undefined;
    for (let waited = 0; !line && waited < 5_000; waited += 20) {
      line = h.logs.find((entry) => entry.code === "client_closed");
      if (!line) await sleep(20);
    }
    expect(line, JSON.stringify(h.logs.slice(-3))).toMatchObject({ outcome: "aborted", code: "client_closed" });
    expect(h.logs.some((entry) => entry.code === "database_unavailable")).toBe(false);
    const text = await scrape();
    expect(seriesOf(text, "clerk_deliveries_total")).toContain(
      'clerk_deliveries_total{type="unknown",outcome="aborted"} 1',
    );
    expect(text).not.toContain('outcome="unavailable"');
    expect(await h.counts()).toMatchObject({ users: 0, deliveries: 0 });
  });

  test("300 distinct signed user.* types and a 200 kB type: label values stay in the fixed set, the scrape small", async () => {
    for (let i = 0; i < 300; i++) await h.deliver(clerkEvent(`user.x${i}_${"y".repeat(i % 50)}`, clerkUser()));
    await h.deliver(clerkEvent(`user.${"z".repeat(200_000)}`, clerkUser()));
    await h.deliver(clerkEvent("organization.created", { id: "org_1" }));
    const text = await scrape();
    const series = [
      ...seriesOf(text, "clerk_deliveries_total"),
      ...seriesOf(text, "clerk_provisioning_duration_seconds_bucket"),
    ];
    for (const line of series) {
      const type = /type="([^"]*)"/.exec(line)?.[1];
      const outcome = /outcome="([^"]*)"/.exec(line)?.[1];
      expect(DELIVERY_TYPE_LABELS, line).toContain(type);
      if (outcome !== undefined) expect(DELIVERY_OUTCOME_LABELS, line).toContain(outcome);
    }
    expect(seriesOf(text, "clerk_deliveries_total")).toEqual(
      expect.arrayContaining([
        'clerk_deliveries_total{type="other",outcome="ignored"} 300',
        // the 200 kB type (422, never read) and the organization with nothing but an id (422: organizations are parsed)
        'clerk_deliveries_total{type="unknown",outcome="invalid"} 2',
      ]),
    );
    const deliverySeries = seriesOf(text, "clerk_deliveries_total").length;
    console.info(`after 302 odd types: ${deliverySeries} delivery series, scrape ${text.length} bytes`);
    expect(deliverySeries).toBeLessThan(10);
    expect(text.length).toBeLessThan(16 * 1024);
  });
});
