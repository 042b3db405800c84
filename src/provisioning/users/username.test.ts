import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkEvent, clerkUser } from "../../../tests/helpers/clerk.js";
import { drivers, type TestDatabase } from "../../../tests/helpers/database.js";
import { parseClerkEvent } from "../../clerk/events.js";
import { USABLE_EMAIL } from "./row.js";
import { chooseUsername, fitUsername } from "./username.js";

const VALID_USERNAME = /^[a-zA-Z0-9_]{3,30}$/;

describe("fitUsername", () => {
  test.each([
    ["jane.doe-99", "jane_doe_99"],
    ["Jane.Doe", "jane_doe"],
    ["a--b..c", "a_b_c"],
    ["-.leading.and.trailing.-", "leading_and_trailing"],
    ["under__scores_kept", "under__scores_kept"],
    ["José", "jose"],
    ["Ñandú_Çedilla", "nandu_cedilla"],
    ["Ｆｕｌｌｗｉｄｔｈ", "fullwidth"],
    ["ﬁle", "file"],
    ["straße", "stra_e"],
    ["ab", "ab_user"],
    ["x", "x_user"],
    ["é", "e_user"],
    ["abc", "abc"],
  ])("%j → %j", (raw, fitted) => {
    expect(fitUsername(raw)).toBe(fitted);
  });

  test("over 30 characters: cut to 30", () => {
    const fitted = fitUsername("abcdefghij".repeat(7));
    expect(fitted).toBe("abcdefghij".repeat(3));
    expect(fitted).toMatch(VALID_USERNAME);
  });

  test("a cut landing on separators drops them, and pads again when that leaves too little", () => {
    expect(fitUsername(`${"a".repeat(29)}--${"b".repeat(10)}`)).toBe("a".repeat(29));
    expect(fitUsername(`a${"_".repeat(40)}b`)).toBe("a_user");
  });

  test.each(["", "---", "...", "___", "日本語", "🙂🙂", " \t "])("nothing usable in %j: null", (raw) => {
    expect(fitUsername(raw)).toBeNull();
  });

  test.each(["Jane.Doe", "a".repeat(64), "é", "x-", `${"ab-".repeat(20)}`, "Ａ", "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S"])(
    "whatever it returns for %j fits the valid_username check",
    (raw) => {
      const fitted = fitUsername(raw);
      expect(fitted).not.toBeNull();
      expect(fitted).toMatch(VALID_USERNAME);
    },
  );
});

describe("chooseUsername", () => {
  test("Clerk's username, fitted, when it has one", () => {
    expect(chooseUsername("Jane.Doe", "someone@example.com", "user_test")).toMatchObject({
      base: "jane_doe",
      fromClerk: true,
    });
  });

  test("no Clerk username: the e-mail's local part", () => {
    expect(chooseUsername(null, "Ada.Lovelace+tag@example.com", "user_test")).toMatchObject({
      base: "ada_lovelace_tag",
      fromClerk: false,
    });
  });

  test("a Clerk username with nothing usable falls back to the e-mail's local part", () => {
    expect(chooseUsername("日本語", "mail.box@example.com", "user_test")).toMatchObject({
      base: "mail_box",
      fromClerk: false,
    });
  });

  test("the local part of the last @ is used", () => {
    expect(chooseUsername(null, '"a@b"@example.com', "user_test")).toMatchObject({ base: "a_b" });
  });

  test.each([
    ["---", "日本@example.com"],
    [null, "...@example.com"],
    [null, "🙂@example.com"],
  ])("nothing usable in %j nor in %j: the Clerk user id, which no other user shares", (clerk, email) => {
    expect(chooseUsername(clerk, email, "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S")).toMatchObject({
      base: "user_2g7np7hrk0sn6kj5edmldaknl",
      fromClerk: false,
    });
  });

  test("a short local part is padded", () => {
    expect(chooseUsername(null, "al@example.com", "user_test").base).toBe("al_user");
  });
});

/** The suffixed names the provisioning SQL makes: `left(base, 30 - length(n::text)) || n`. */
const suffixed = (base: string, n: number) => `${base.slice(0, 30 - String(n).length)}${n}`;

describe.each(drivers())("on $name", ({ open }) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await open();
  });
  afterAll(() => database.close());

  describe("formsPattern, as a PostgreSQL regex", () => {
    const matching = async (pattern: string, names: string[]) => {
      const rows = await database.query<{ name: string }>(
        "SELECT name FROM unnest($1::text[]) WITH ORDINALITY AS t(name, i) WHERE name ~ $2 ORDER BY i",
        [names, pattern],
      );
      return rows.map((row) => row.name);
    };

    test("matches the base and every suffixed form the SQL makes of a short base (2…100, then 9 digits)", async () => {
      const { base, formsPattern } = chooseUsername(null, "ada@example.com", "user_test");
      const forms = [base, ...[2, 3, 9, 10, 11, 99, 100, 123456789, 999999999].map((n) => suffixed(base, n))];
      expect(forms).toContain("ada10");
      expect(await matching(formsPattern, forms)).toEqual(forms);
    });

    test("the SQL's own suffixes of a 30-character base are cut to fit and still match", async () => {
      const base = "abcdefghijklmnopqrstuvwxyz_xyz";
      expect(base).toHaveLength(30);
      const { formsPattern } = chooseUsername(base, "someone@example.com", "user_test");
      const [generated] = await database.query<{ names: string[] }>(
        "SELECT array_agg(left($1::text, 30 - length(n::text)) || n ORDER BY n) AS names FROM unnest($2::int[]) n",
        [base, [2, 10, 100, 123456789]],
      );
      const names = generated?.names ?? [];
      expect(names).toEqual([2, 10, 100, 123456789].map((n) => suffixed(base, n)));
      expect(names[0]).toBe("abcdefghijklmnopqrstuvwxyz_xy2");
      expect(names[1]).toBe("abcdefghijklmnopqrstuvwxyz_x10");
      for (const name of names) expect(name).toMatch(VALID_USERNAME);
      expect(await matching(formsPattern, [base, ...names])).toEqual([base, ...names]);
    });

    test("does not match other names", async () => {
      const { formsPattern } = chooseUsername(null, "ada@example.com", "user_test");
      const others = ["ad", "adam", "ada_2", "xada", "ada2x", "Ada", "ADA2", "ada123456", "ada 2", "bob", "", "ada2\n"];
      // sequential suffixes end at 100; past them only 9-digit ones
      others.push("ada101", "ada1000", "ada12345", "ada1234567890");
      // suffixes start at 2 and have no leading zero: the SQL never writes these
      others.push("ada0", "ada1", "ada01", "ada007");
      expect(await matching(formsPattern, others)).toEqual([]);

      const base = "abcdefghijklmnopqrstuvwxyz_xyz";
      const long = chooseUsername(base, "someone@example.com", "user_test").formsPattern;
      const longOthers = [`${base}2`, base.slice(0, 29), `${base.slice(0, 29)}a`, `${base.slice(0, 28)}2x`, `z${base}`];
      expect(await matching(long, longOthers)).toEqual([]);
    });

    test("a pattern is no looser than its own base: another base's forms do not match", async () => {
      const ada = chooseUsername(null, "ada@example.com", "user_test").formsPattern;
      const adaline = chooseUsername(null, "adaline@example.com", "user_test");
      expect(await matching(ada, [adaline.base, suffixed(adaline.base, 2)])).toEqual([]);
      expect(await matching(adaline.formsPattern, ["ada", "ada2"])).toEqual([]);
    });
  });

  describe("the JS e-mail rule and the database's valid_email check", () => {
    let n = 0;
    /** The primary address as provisioning sees it (trimmed, lower-cased by the event parser). */
    const normalized = (raw: string) => {
      const event = parseClerkEvent(clerkEvent("user.created", clerkUser({ email: raw })));
      if (event.type !== "user.created") throw new Error("not a user.created");
      return event.user.primaryEmail ?? "";
    };
    /** Whether a users row with this e-mail passes `valid_email` (the row is removed again). */
    const databaseAccepts = async (email: string) => {
      n += 1;
      try {
        await database.query("INSERT INTO users (id, email, username) VALUES ($1, $2, $3)", [
          `user_email_${n}`,
          email,
          `email_rule_${n}`,
        ]);
      } catch (error) {
        const { code, constraint, constraint_name } = error as Record<string, unknown>;
        if (code === "23514" && (constraint ?? constraint_name) === "valid_email") return false;
        throw error;
      }
      await database.query("DELETE FROM users WHERE id = $1", [`user_email_${n}`]);
      return true;
    };

    test.each([
      ["a@b.co", true],
      ["Ada.Lovelace+Tag@Example.COM", true],
      ["  padded@example.com\n", true],
      ["o'brien@example.ie", true],
      ['"quoted"@example.com', true],
      ["ü@exämple.de", true],
      ["用户@例子.广告", true],
      ["a@b.c.d", true],
      ["a.@b.c", true],
      ["ÉMILE@EXAMPLE.FR", true],
      ["a\u200bb@example.com", true],
      ["", false],
      ["plain", false],
      ["@example.com", false],
      ["a@", false],
      ["a@b", false],
      ["a@b.", false],
      ["a@.com", false],
      ["a@@example.com", false],
      ["a@b@example.com", false],
      ["a b@example.com", false],
      ["a@exa mple.com", false],
      ["a@example .com", false],
      ["a\tb@example.com", false],
      ["a\nb@example.com", false],
      ["a\rb@example.com", false],
      ["a\u000bb@example.com", false],
      ["a\u000cb@example.com", false],
      ["a\u2003b@example.com", false],
      ["a\u3000b@example.com", false],
      ["a\u2028b@example.com", false],
    ])("%j: usable %s, in JS and in the database alike", async (raw, usable) => {
      const email = normalized(raw);
      expect(USABLE_EMAIL.test(email), `JS rule on ${JSON.stringify(email)}`).toBe(usable);
      expect(await databaseAccepts(email), `valid_email on ${JSON.stringify(email)}`).toBe(usable);
    });

    // Which of these `[:space:]` counts follows the database's locale (PGlite counts U+0085 and not U+1680, glibc's
    // C.UTF-8 the other way round): the JS rule must never accept what the check refuses (a 500 on every retry).
    test.each(["0085", "00A0", "1680", "180E", "2007", "200B", "202F", "205F", "2029", "FEFF"])(
      "U+%s inside an address: never usable in JS when the database refuses it",
      async (hex) => {
        const email = normalized(`a${String.fromCodePoint(Number.parseInt(hex, 16))}b@example.com`);
        const js = USABLE_EMAIL.test(email);
        const db = await databaseAccepts(email);
        expect(js && !db, `JS ${js}, database ${db}`).toBe(false);
      },
    );
  });
});
