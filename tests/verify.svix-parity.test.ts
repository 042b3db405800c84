import { createHash } from "node:crypto";
import { Webhook, WebhookVerificationError } from "svix";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { createVerifier, InvalidJsonError, SignatureError } from "../src/clerk/verify.js";

/**
 * Our verifier computes the HMAC with node:crypto instead of svix's pure-JS SHA-256; everything else must be svix's
 * `Webhook.verify`, decision for decision. Deterministic pseudo-random cases around every edge: the tolerance
 * boundaries, signature lists with wrong, foreign and malformed entries, bodies that are not JSON or not ASCII.
 */
const NOW_SECONDS = 1_900_000_000;

/** A small deterministic generator (sha256 of a counter), so that a failure names a reproducible case. */
function generator(seed: string) {
  let counter = 0;
  const next = () => createHash("sha256").update(`${seed}:${counter++}`).digest();
  return {
    int: (below: number) => next().readUInt32BE(0) % below,
    bytes: (n: number) => next().subarray(0, n),
    pick: <T>(items: readonly T[]): T => items[next().readUInt32BE(0) % items.length] as T,
  };
}

type Verdict = { ok: unknown } | { rejected: string } | { invalidJson: true };

function svixVerdict(webhook: Webhook, body: string, headers: Record<string, string>): Verdict {
  try {
    return { ok: webhook.verify(body, headers) };
  } catch (error) {
    if (error instanceof WebhookVerificationError) return { rejected: error.message };
    if (error instanceof SyntaxError) return { invalidJson: true };
    throw error;
  }
}

function ourVerdict(verify: ReturnType<typeof createVerifier>, body: string, headers: Record<string, string>) {
  try {
    return { ok: verify(body, headers as Parameters<typeof verify>[1]).payload } as Verdict;
  } catch (error) {
    if (error instanceof SignatureError) return { rejected: error.message.replace(/^signature rejected: /, "") };
    if (error instanceof InvalidJsonError) return { invalidJson: true } as Verdict;
    throw error;
  }
}

describe("our verifier decides exactly as svix's Webhook.verify", () => {
  beforeAll(() => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(NOW_SECONDS * 1000 + 123);
  });
  afterAll(() => {
    vi.useRealTimers();
  });

  const random = generator("svix-parity");
  const cases = Array.from({ length: 400 }, (_, i) => {
    const secret = `whsec_${random.bytes(random.pick([24, 32])).toString("base64")}`;
    const other = `whsec_${random.bytes(32).toString("base64")}`;
    const svixId = `msg_${random.bytes(9).toString("hex")}`;
    const offset = random.pick([0, 1, -1, 299, 300, 301, -299, -300, -301, 3600, -3600, random.int(900) - 450]);
    const timestamp = random.pick([
      String(NOW_SECONDS + offset),
      `${NOW_SECONDS + offset}abc`,
      ` ${NOW_SECONDS + offset}`,
      "yesterday",
    ]);
    const body = random.pick([
      JSON.stringify({ type: "user.created", data: { id: `user_${i}`, name: "Zoë ✓" } }),
      '{"test": 2432232314}',
      "",
      "not json",
      '{"lone":"\ud800"}',
      `${JSON.stringify({ n: i })} `,
    ]);
    const signedAt = new Date(Number.parseInt(timestamp, 10) * 1000 || 0);
    const good = new Webhook(secret).sign(svixId, signedAt, body);
    const foreign = new Webhook(other).sign(svixId, signedAt, body);
    const entries = [
      good,
      foreign,
      good.replace(/^v1,/, "v2,"),
      `v1,${random.bytes(32).toString("base64")}`,
      "v1,not-a-signature",
      "v1",
      `${good},extra`,
      good.slice(0, -2),
    ];
    const count = 1 + random.int(3);
    const signature = Array.from({ length: count }, () => random.pick(entries)).join(" ");
    return {
      name: `case ${i}`,
      secret,
      body,
      headers: { "svix-id": svixId, "svix-timestamp": timestamp, "svix-signature": signature },
    };
  });

  test("the generated cases cover acceptance and each rejection", () => {
    const verdicts = cases.map((c) => svixVerdict(new Webhook(c.secret), c.body, c.headers));
    const kinds = new Set(verdicts.map((v) => ("ok" in v ? "ok" : "invalidJson" in v ? "invalidJson" : v.rejected)));
    expect([...kinds].sort()).toEqual(
      [
        "Invalid Signature Headers",
        "Message timestamp too new",
        "Message timestamp too old",
        "No matching signature found",
        "invalidJson",
        "ok",
      ].sort(),
    );
  });

  test(`${cases.length} generated cases: the same verdict, payload or error text`, () => {
    for (const { name, secret, body, headers } of cases) {
      const expected = svixVerdict(new Webhook(secret), body, headers);
      expect(ourVerdict(createVerifier(secret), body, headers), `${name}: ${JSON.stringify(headers)}`).toEqual(
        expected,
      );
    }
  });
});
