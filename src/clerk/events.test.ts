import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { clerkEvent, clerkUser, fixture } from "../../tests/helpers/clerk.js";
import { parseClerkEvent, parseClerkEventWithSchemas, readWellFormedEvent } from "./events.js";

/** What the zod schemas say: the event, or the error text. */
function schemaVerdict(payload: unknown): { event: unknown } | { error: string } {
  try {
    return { event: parseClerkEventWithSchemas(payload) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

const USER_FIELDS = [
  "id",
  "email_addresses",
  "primary_email_address_id",
  "username",
  "first_name",
  "last_name",
  "image_url",
  "updated_at",
] as const;

/** Values at the edges of each rule: NUL, empty, wrong types, unsafe and fractional numbers, nesting. */
const edgeValue = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom<unknown>(
      "",
      "\u0000",
      "a\u0000b",
      "user_1",
      0,
      -0,
      -1,
      1.5,
      2 ** 53,
      Number.MAX_SAFE_INTEGER,
      1e300,
      true,
      null,
      [],
      {},
      [{ id: "idn_1", email_address: "a@b.co" }],
      [{ id: 1, email_address: "a@b.co" }],
      [{ id: "idn_1", email_address: "a\u0000@b.co" }],
      [{ id: "idn_1" }],
      [null],
    ),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

/** Field → new value (`undefined`: the field removed). */
const patch = <K extends string>(keys: readonly K[]) =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constant({} as Partial<Record<K, unknown>>) },
    {
      weight: 4,
      arbitrary: fc
        .tuple(fc.constantFrom(...keys), fc.option(edgeValue, { nil: undefined, freq: 6 }))
        .map(([key, value]) => ({ [key]: value }) as Partial<Record<K, unknown>>),
    },
    {
      weight: 1,
      arbitrary: fc.dictionary(fc.constantFrom(...keys), fc.option(edgeValue, { nil: undefined, freq: 6 }), {
        maxKeys: 3,
      }) as fc.Arbitrary<Partial<Record<K, unknown>>>,
    },
  );

const apply = (target: Record<string, unknown>, changes: Record<string, unknown>) => {
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) delete target[key];
    else target[key] = value;
  }
};

/** A user event (or a deleted / other event) with fields replaced by edge values or removed. */
const payload = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({
        type: fc.oneof(
          { arbitrary: fc.constantFrom<unknown>("user.created", "user.updated", "user.deleted"), weight: 8 },
          fc.constantFrom<unknown>("", "session.created", "a\u0000", 7, null),
        ),
        user: patch(USER_FIELDS),
        address: patch(["id", "email_address"] as const),
        data: fc.oneof({ arbitrary: fc.constant(undefined), weight: 10 }, edgeValue),
      })
      .map(({ type, user, address, data }) => {
        const userJson: Record<string, unknown> = clerkUser();
        apply(userJson, user);
        const addresses = userJson.email_addresses;
        const first: unknown = Array.isArray(addresses) ? addresses[0] : undefined;
        if (typeof first === "object" && first !== null) apply(first as Record<string, unknown>, address);
        const event: Record<string, unknown> = clerkEvent("user.created", {});
        event.data = data === undefined ? userJson : data;
        event.type = type;
        return event;
      }),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
);

describe("the well-formed fast path agrees with the zod schemas", () => {
  test.each([
    "docs.user.created",
    "dashboard.user.created",
    "dashboard.user.updated",
    "dashboard.user.deleted",
    "openapi.user.created",
    "openapi.user.updated",
    "openapi.user.deleted",
    "session.created",
  ])("Clerk's published %s takes the fast path, with the schemas' result", (name) => {
    const published = fixture(name);
    expect(readWellFormedEvent(published)).toEqual(parseClerkEventWithSchemas(published));
  });

  test("generated and mutated payloads: accepted only when the schemas accept, with the same event", () => {
    fc.assert(
      fc.property(payload, (value) => {
        const fast = readWellFormedEvent(value);
        const reference = schemaVerdict(value);
        if (fast !== undefined) expect(reference).toEqual({ event: fast });
        // Whichever way it goes, parseClerkEvent answers exactly as the schemas do.
        const actual = (() => {
          try {
            return { event: parseClerkEvent(value) };
          } catch (error) {
            return { error: (error as Error).message };
          }
        })();
        expect(actual).toEqual(reference);
      }),
      { numRuns: 3000 },
    );
  });

  test("the generator reaches both sides: most valid payloads take the fast path, invalid ones are named by zod", () => {
    const samples = fc.sample(payload, { numRuns: 2000, seed: 42 });
    const fast = samples.filter((value) => readWellFormedEvent(value) !== undefined).length;
    const rejected = samples.filter((value) => "error" in schemaVerdict(value)).length;
    expect(fast).toBeGreaterThan(200);
    expect(rejected).toBeGreaterThan(200);
  });
});
