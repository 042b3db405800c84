import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { Webhook } from "svix";
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { createApp } from "../src/app.js";
import { createVerifier } from "../src/clerk/verify.js";
import { MAX_BODY_BYTES } from "../src/http/clerk-webhook.js";
import { createLogger } from "../src/logger.js";
import { clerkEvent, clerkUser, newUserId, type SignedDelivery, signDelivery, TEST_SECRET } from "./helpers/clerk.js";
import { drivers } from "./helpers/database.js";
import { expectRejected } from "./helpers/expect-error.js";
import { createHarness, describeResponse, type Harness } from "./helpers/harness.js";
import { type Listening, listen, postChunked } from "./helpers/listen.js";

interface Vector {
  name: string;
  secret: string;
  msg_id: string;
  timestamp: string;
  payload: string;
  signature: string;
}
const known = JSON.parse(
  readFileSync(new URL("./fixtures/svix-known-answer-vectors.json", import.meta.url), "utf8"),
) as {
  vectors: Vector[];
  negative_examples: { header_entries_that_do_not_match: string[] }[];
};

const OTHER_SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const MINUTE = 60_000;

/** A valid delivery for a fresh user, and that user's id. */
function freshDelivery(options: Parameters<typeof signDelivery>[1] = {}): SignedDelivery & { userId: string } {
  const userId = newUserId();
  return { ...signDelivery(clerkEvent("user.created", clerkUser({ id: userId })), options), userId };
}

/** A signed user.created whose body is exactly `bytes` long (padded with an extra key Clerk might send). */
function deliveryOfSize(bytes: number): SignedDelivery {
  const event = clerkEvent("user.created", clerkUser());
  const empty = JSON.stringify({ ...event, padding: "" });
  const delivery = signDelivery({ ...event, padding: "x".repeat(bytes - Buffer.byteLength(empty)) });
  expect(Buffer.byteLength(delivery.body)).toBe(bytes);
  return delivery;
}

describe.each(drivers())("webhook security on $name", ({ open }) => {
  let h: Harness;
  beforeAll(async () => {
    h = createHarness(await open());
  });
  afterAll(() => h.close());

  const withHeaders = (delivery: SignedDelivery, headers: Record<string, string>): SignedDelivery => ({
    ...delivery,
    headers: { ...delivery.headers, ...headers },
  });
  const userExists = async (id: string) =>
    (await h.database.query("SELECT 1 FROM users WHERE id = $1", [id])).length === 1;
  const expectProvisioned = async (res: Response, userId: string) => {
    expect(res.status, await describeResponse(res)).toBe(200);
    expect(await res.json()).toMatchObject({ outcome: "provisioned" });
    expect(await userExists(userId)).toBe(true);
  };

  test("control: a correctly signed delivery is accepted", async () => {
    const delivery = freshDelivery();
    await expectProvisioned(await h.post(delivery), delivery.userId);
  });

  describe("missing svix headers: 400 missing_signature", () => {
    test.each(["svix-id", "svix-timestamp", "svix-signature"])("without %s", async (name) => {
      const delivery = freshDelivery();
      const headers = { ...delivery.headers };
      delete headers[name];
      await expectRejected(h, () => h.post({ ...delivery, headers }), 400, "missing_signature");
      expect(await userExists(delivery.userId)).toBe(false);
    });

    test.each(["svix-id", "svix-timestamp", "svix-signature"])("with %s empty", async (name) => {
      const delivery = freshDelivery();
      await expectRejected(h, () => h.post(withHeaders(delivery, { [name]: "" })), 400, "missing_signature");
    });

    test("with none of them", async () => {
      const { body } = freshDelivery();
      const error = await expectRejected(
        h,
        () => h.post({ body, headers: { "content-type": "application/json" } }),
        400,
        "missing_signature",
      );
      expect(error.message).toMatch(/svix-id/);
    });
  });

  describe("bad signatures: 401 invalid_signature", () => {
    test("a wrong signature", async () => {
      const delivery = freshDelivery();
      const forged = `v1,${randomBytes(32).toString("base64")}`;
      await expectRejected(
        h,
        () => h.post(withHeaders(delivery, { "svix-signature": forged })),
        401,
        "invalid_signature",
      );
      expect(await userExists(delivery.userId)).toBe(false);
    });

    test("a signature that is not even base64", async () => {
      const delivery = freshDelivery();
      await expectRejected(
        h,
        () => h.post(withHeaders(delivery, { "svix-signature": "v1,not-a-signature" })),
        401,
        "invalid_signature",
      );
    });

    test("signed with another endpoint's secret", async () => {
      const delivery = freshDelivery({ secret: OTHER_SECRET });
      await expectRejected(h, () => h.post(delivery), 401, "invalid_signature");
      expect(await userExists(delivery.userId)).toBe(false);
    });

    test("the right signature bytes under a version other than v1", async () => {
      const delivery = freshDelivery();
      const v2 = delivery.headers["svix-signature"]?.replace(/^v1,/, "v2,") ?? "";
      expect(v2).toMatch(/^v2,/);
      await expectRejected(h, () => h.post(withHeaders(delivery, { "svix-signature": v2 })), 401, "invalid_signature");
    });

    test("the body tampered with after signing", async () => {
      const delivery = freshDelivery();
      const tampered = delivery.body.replace(`"first_name":"Ada"`, `"first_name":"Eve"`);
      expect(tampered).not.toBe(delivery.body);
      await expectRejected(h, () => h.post({ ...delivery, body: tampered }), 401, "invalid_signature");
      expect(await userExists(delivery.userId)).toBe(false);
    });

    test("one byte of whitespace added to the signed body", async () => {
      const delivery = freshDelivery();
      await expectRejected(h, () => h.post({ ...delivery, body: `${delivery.body} ` }), 401, "invalid_signature");
    });

    test("the svix-id replaced (a replay under a new id)", async () => {
      const delivery = freshDelivery();
      await expectRejected(
        h,
        () => h.post(withHeaders(delivery, { "svix-id": `${delivery.headers["svix-id"]}x` })),
        401,
        "invalid_signature",
      );
    });

    test("the svix-timestamp moved by one second", async () => {
      const delivery = freshDelivery();
      const moved = String(Number(delivery.headers["svix-timestamp"]) - 1);
      await expectRejected(
        h,
        () => h.post(withHeaders(delivery, { "svix-timestamp": moved })),
        401,
        "invalid_signature",
      );
    });

    test("a timestamp that is not a number", async () => {
      const delivery = freshDelivery();
      await expectRejected(
        h,
        () => h.post(withHeaders(delivery, { "svix-timestamp": "yesterday" })),
        401,
        "invalid_signature",
      );
    });
  });

  describe("timestamps: 5 minutes of tolerance either way", () => {
    test.each([
      ["6 minutes old", -6 * MINUTE, /too old/],
      ["1 hour old", -60 * MINUTE, /too old/],
      ["6 minutes in the future", 6 * MINUTE, /too new/],
      ["1 day in the future", 24 * 60 * MINUTE, /too new/],
    ])("correctly signed but %s: 401", async (_, offset, reason) => {
      const delivery = freshDelivery({ timestamp: new Date(Date.now() + offset) });
      const error = await expectRejected(h, () => h.post(delivery), 401, "invalid_signature");
      expect(error.message).toMatch(reason);
      expect(await userExists(delivery.userId)).toBe(false);
    });

    test.each([
      ["4 minutes old", -4 * MINUTE],
      ["4 minutes in the future", 4 * MINUTE],
    ])("control: %s is accepted", async (_, offset) => {
      const delivery = freshDelivery({ timestamp: new Date(Date.now() + offset) });
      await expectProvisioned(await h.post(delivery), delivery.userId);
    });
  });

  describe("several signatures in one header (secret rotation)", () => {
    test("one valid among wrong ones is accepted", async () => {
      const delivery = freshDelivery();
      const valid = delivery.headers["svix-signature"] ?? "";
      const header = [`v1,${randomBytes(32).toString("base64")}`, valid, `v1,${randomBytes(32).toString("base64")}`];
      await expectProvisioned(
        await h.post(withHeaders(delivery, { "svix-signature": header.join(" ") })),
        delivery.userId,
      );
    });

    test("the published non-matching entries before the valid one are skipped, not fatal", async () => {
      const delivery = freshDelivery();
      const entries = known.negative_examples.flatMap((n) => n.header_entries_that_do_not_match);
      expect(entries.length).toBeGreaterThan(0);
      const header = [...entries, delivery.headers["svix-signature"]].join(" ");
      await expectProvisioned(await h.post(withHeaders(delivery, { "svix-signature": header })), delivery.userId);
    });

    test("signed with the old and the new secret: accepted by the endpoint holding either", async () => {
      const delivery = freshDelivery();
      const old = new Webhook(OTHER_SECRET).sign(
        delivery.headers["svix-id"] ?? "",
        new Date(Number(delivery.headers["svix-timestamp"]) * 1000),
        delivery.body,
      );
      const header = `${old} ${delivery.headers["svix-signature"]}`;
      await expectProvisioned(await h.post(withHeaders(delivery, { "svix-signature": header })), delivery.userId);
    });

    test("several entries, none valid: 401", async () => {
      const delivery = freshDelivery({ secret: OTHER_SECRET });
      const header = [
        ...known.negative_examples.flatMap((n) => n.header_entries_that_do_not_match),
        delivery.headers["svix-signature"],
      ];
      await expectRejected(
        h,
        () => h.post(withHeaders(delivery, { "svix-signature": header.join(" ") })),
        401,
        "invalid_signature",
      );
    });
  });

  describe("body size: 1 MiB at most", () => {
    test("exactly 1 MiB, correctly signed, is accepted", async () => {
      const delivery = deliveryOfSize(MAX_BODY_BYTES);
      const res = await h.post(withHeaders(delivery, { "content-length": String(MAX_BODY_BYTES) }));
      expect(res.status, await describeResponse(res)).toBe(200);
    });

    test("one byte over, with a Content-Length: 413 payload_too_large", async () => {
      const delivery = deliveryOfSize(MAX_BODY_BYTES + 1);
      await expectRejected(
        h,
        () => h.post(withHeaders(delivery, { "content-length": String(MAX_BODY_BYTES + 1) })),
        413,
        "payload_too_large",
      );
    });

    describe("on a listening server", () => {
      let server: Listening;
      beforeAll(async () => {
        server = await listen(h.app.fetch);
      });
      afterAll(() => server.close());
      afterEach(() => {
        server.seen.length = 0;
      });

      /** The body in 64 KiB chunks: chunked transfer encoding, no Content-Length. */
      const postStreamed = (delivery: SignedDelivery) =>
        postChunked(`${server.url}/webhooks/clerk`, delivery.headers, delivery.body);

      test("2 MiB with a Content-Length: 413", async () => {
        const delivery = deliveryOfSize(2 * MAX_BODY_BYTES);
        await expectRejected(
          h,
          () =>
            fetch(`${server.url}/webhooks/clerk`, { method: "POST", headers: delivery.headers, body: delivery.body }),
          413,
          "payload_too_large",
        );
        expect(server.seen).toEqual([{ contentLength: String(2 * MAX_BODY_BYTES), transferEncoding: null }]);
      });

      test("1 MiB + 1 byte streamed without a Content-Length: 413", async () => {
        const delivery = deliveryOfSize(MAX_BODY_BYTES + 1);
        await expectRejected(h, () => postStreamed(delivery), 413, "payload_too_large");
        expect(server.seen).toEqual([{ contentLength: null, transferEncoding: "chunked" }]);
      });

      test("4 MiB streamed without a Content-Length: 413", async () => {
        const delivery = deliveryOfSize(4 * MAX_BODY_BYTES);
        await expectRejected(h, () => postStreamed(delivery), 413, "payload_too_large");
      });

      test("control: a streamed body under the limit is read whole and accepted", async () => {
        const delivery = deliveryOfSize(MAX_BODY_BYTES - 10);
        const res = await postStreamed(delivery);
        expect(res.status, await describeResponse(res)).toBe(200);
        expect(await res.json()).toMatchObject({ outcome: "provisioned" });
        expect(server.seen).toEqual([{ contentLength: null, transferEncoding: "chunked" }]);
      });
    });
  });

  test("a known-answer vector through the app: its signature passes, only its (non-Clerk) payload is refused", async () => {
    const [v] = known.vectors;
    if (!v) throw new Error("no vectors");
    const app = createApp({ db: h.database.db, webhookSigningSecret: v.secret, logger: createLogger("silent") });
    const post = () =>
      app.request("/webhooks/clerk", {
        method: "POST",
        body: v.payload,
        headers: { "svix-id": v.msg_id, "svix-timestamp": v.timestamp, "svix-signature": v.signature },
      });
    await expectRejected(h, post, 401, "invalid_signature");
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(Number(v.timestamp) * 1000);
      const error = await expectRejected(h, post, 422, "invalid_payload");
      expect(error.message).toMatch(/^type: /);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe.each(drivers())("several signing secrets on $name", ({ open }) => {
  let h: Harness;
  beforeAll(async () => {
    h = createHarness(await open());
  });
  afterAll(() => h.close());

  const THIRD_SECRET = `whsec_${randomBytes(32).toString("base64")}`;
  /** The app as CLERK_WEBHOOK_SIGNING_SECRET configures it: two endpoints' secrets (or a list of them). */
  const appWith = (secrets: string | string[]) => {
    const app = createApp({ db: h.database.db, webhookSigningSecret: secrets, logger: createLogger("silent") });
    return (delivery: SignedDelivery) =>
      app.request("/webhooks/clerk", { method: "POST", body: delivery.body, headers: delivery.headers });
  };
  const accepted = async (res: Response) => {
    expect(res.status, await describeResponse(res)).toBe(200);
    return ((await res.json()) as { outcome: string }).outcome;
  };

  test.each([
    ["separated by a space", `${TEST_SECRET} ${OTHER_SECRET}`],
    ["separated by a comma", `${OTHER_SECRET},${TEST_SECRET}`],
    ["as a list", [TEST_SECRET, OTHER_SECRET]],
  ])("%s: a delivery signed with either is accepted, with a third refused", async (_, secrets) => {
    const post = appWith(secrets);
    const first = freshDelivery({ secret: TEST_SECRET });
    const second = freshDelivery({ secret: OTHER_SECRET });
    expect(await accepted(await post(first))).toBe("provisioned");
    expect(await accepted(await post(second))).toBe("provisioned");
    await expectRejected(h, () => post(freshDelivery({ secret: THIRD_SECRET })), 401, "invalid_signature");
  });

  test("the second secret's delivery: its svix-id counts once, whichever secret signs the retry", async () => {
    const post = appWith(`${TEST_SECRET} ${OTHER_SECRET}`);
    const delivery = freshDelivery({ secret: OTHER_SECRET });
    expect(await accepted(await post(delivery))).toBe("provisioned");
    const again = signDelivery(JSON.parse(delivery.body), {
      secret: TEST_SECRET,
      svixId: delivery.headers["svix-id"] as string,
    });
    expect(await accepted(await post(again))).toBe("duplicate");
  });

  test("the second secret still gets the same checks: stale timestamp 401, a body that is not JSON 400", async () => {
    const post = appWith(`${TEST_SECRET} ${OTHER_SECRET}`);
    const stale = freshDelivery({ secret: OTHER_SECRET, timestamp: new Date(Date.now() - 6 * MINUTE) });
    await expectRejected(h, () => post(stale), 401, "invalid_signature");
    await expectRejected(h, () => post(signDelivery("not json", { secret: OTHER_SECRET })), 400, "invalid_json");
  });
});

describe("svix known-answer vectors", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  test.each(known.vectors)("$name: svix's sign() reproduces the published signature", (v) => {
    const signature = new Webhook(v.secret).sign(v.msg_id, new Date(Number(v.timestamp) * 1000), v.payload);
    expect(signature).toBe(v.signature);
  });

  test.each(known.vectors)("$name: our verifier accepts it at its time and rejects it now", (v) => {
    const verify = createVerifier(v.secret);
    const headers = { "svix-id": v.msg_id, "svix-timestamp": v.timestamp, "svix-signature": v.signature };
    expect(() => verify(v.payload, headers)).toThrow(/too old/);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Number(v.timestamp) * 1000 + 30_000);
    expect(verify(v.payload, headers)).toEqual({ svixId: v.msg_id, payload: JSON.parse(v.payload) });
    expect(() => verify(v.payload, { ...headers, "svix-id": `${v.msg_id}x` })).toThrow(/No matching signature/);
    expect(() => verify(`${v.payload} `, headers)).toThrow(/No matching signature/);
  });
});
