import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Webhook } from "svix";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type Config, ConfigError, loadConfig } from "../../src/config.js";
import { resolveWebhookSecret } from "../../src/webhook-secret.js";
import { TEST_SECRET } from "../helpers/clerk.js";

const REPO_ROOT = new URL("../..", import.meta.url).pathname;

/** The problems `loadConfig` reports for `env`, or a failure if it accepts it. */
function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe("loadConfig", () => {
  test("defaults: development, port 3000 on all interfaces, info, embedded database in .data/pglite", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      env: "development",
      port: 3000,
      host: "0.0.0.0",
      logLevel: "info",
      database: { kind: "pglite", dataDir: ".data/pglite" },
      webhookSigningSecret: undefined,
    });
    expect(config.clerk).toMatchObject({ secretKey: undefined, apiUrl: undefined });
  });

  test("reads the environment it is given, not process.env", () => {
    const saved = process.env.PORT;
    process.env.PORT = "not-a-port";
    try {
      expect(loadConfig({}).port).toBe(3000);
    } finally {
      if (saved === undefined) delete process.env.PORT;
      else process.env.PORT = saved;
    }
  });

  test("empty strings count as unset", () => {
    const empty = Object.fromEntries(
      [
        "NODE_ENV",
        "PORT",
        "HOST",
        "LOG_LEVEL",
        "DATABASE_URL",
        "PGLITE_DATA_DIR",
        "DATABASE_POOL_MAX",
        "DATABASE_IDLE_TIMEOUT_SECONDS",
        "DATABASE_CONNECT_TIMEOUT_SECONDS",
        "DATABASE_STATEMENT_TIMEOUT_MS",
        "CLERK_WEBHOOK_SIGNING_SECRET",
        "CLERK_SECRET_KEY",
        "CLERK_API_URL",
        "CLERK_JWT_KEY",
        "CLERK_AUTHORIZED_PARTIES",
        "CLERK_LOOKUP_CACHE_SECONDS",
        "CLERK_ACCEPT_PENDING_SESSIONS",
        "HTTP_MAX_CONNECTIONS",
        "HTTP_HEADERS_TIMEOUT_SECONDS",
        "HTTP_REQUEST_TIMEOUT_SECONDS",
        "HTTP_KEEP_ALIVE_TIMEOUT_SECONDS",
      ].map((name) => [name, ""]),
    );
    expect(loadConfig(empty)).toEqual(loadConfig({}));
  });

  test("a DATABASE_URL selects PostgreSQL with the pool defaults; postgresql:// too", () => {
    expect(loadConfig({ DATABASE_URL: "postgres://u:p@db.example.com:5432/app" }).database).toEqual({
      kind: "postgres",
      url: "postgres://u:p@db.example.com:5432/app",
      poolMax: 20,
      idleTimeoutSeconds: 30,
      connectTimeoutSeconds: 10,
      statementTimeoutMs: 5_000,
    });
    expect(loadConfig({ DATABASE_URL: "postgresql://localhost/app" }).database.kind).toBe("postgres");
  });

  test("values are read and coerced", () => {
    const config = loadConfig({
      NODE_ENV: "production",
      PORT: "8080",
      HOST: "127.0.0.1",
      LOG_LEVEL: "warn",
      DATABASE_URL: "postgres://localhost/app",
      DATABASE_POOL_MAX: "5",
      CLERK_WEBHOOK_SIGNING_SECRET: TEST_SECRET,
    });
    expect(config).toMatchObject({
      env: "production",
      port: 8080,
      host: "127.0.0.1",
      logLevel: "warn",
      database: { kind: "postgres", poolMax: 5 },
      webhookSigningSecret: TEST_SECRET,
    });
  });

  test.each([
    ["PORT", "abc"],
    ["PORT", "70000"],
    ["PORT", "-1"],
    ["PORT", "80.5"],
    ["PORT", "1e3"],
    ["PORT", "0x50"],
    ["DATABASE_POOL_MAX", "2e1"],
    ["DATABASE_URL", "mysql://localhost/app"],
    ["DATABASE_URL", "not a url"],
    ["DATABASE_URL", "localhost:5432"],
    ["NODE_ENV", "staging"],
    ["LOG_LEVEL", "loud"],
    ["DATABASE_POOL_MAX", "0"],
    ["DATABASE_STATEMENT_TIMEOUT_MS", "50"],
    ["CLERK_WEBHOOK_SIGNING_SECRET", "sk_test_not_a_webhook_secret"],
    ["CLERK_LOOKUP_CACHE_SECONDS", "-1"],
    ["CLERK_LOOKUP_CACHE_SECONDS", "1m"],
    ["CLERK_ACCEPT_PENDING_SESSIONS", "maybe"],
    ["HTTP_MAX_CONNECTIONS", "0"],
    ["HTTP_REQUEST_TIMEOUT_SECONDS", "601"],
    ["HTTP_HEADERS_TIMEOUT_SECONDS", "30"],
  ])("%s=%s is reported, naming the variable", (name, value) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${name}: `));
  });

  test("the HTTP limits, the lookup cache and pending sessions have documented defaults and are read", () => {
    expect(loadConfig({})).toMatchObject({
      http: { maxConnections: 1000, headersTimeoutMs: 10_000, requestTimeoutMs: 20_000, keepAliveTimeoutMs: 5_000 },
      clerk: { lookupCacheSeconds: 60, acceptPendingSessions: false },
    });
    expect(
      loadConfig({
        HTTP_MAX_CONNECTIONS: "50",
        HTTP_HEADERS_TIMEOUT_SECONDS: "2",
        HTTP_REQUEST_TIMEOUT_SECONDS: "3",
        HTTP_KEEP_ALIVE_TIMEOUT_SECONDS: "1",
        CLERK_LOOKUP_CACHE_SECONDS: "0",
        CLERK_ACCEPT_PENDING_SESSIONS: "true",
      }),
    ).toMatchObject({
      http: { maxConnections: 50, headersTimeoutMs: 2_000, requestTimeoutMs: 3_000, keepAliveTimeoutMs: 1_000 },
      clerk: { lookupCacheSeconds: 0, acceptPendingSessions: true },
    });
  });

  test("a value of spaces only counts as unset, and spaces around a number are ignored", () => {
    expect(loadConfig({ PORT: "   " }).port).toBe(3000);
    expect(loadConfig({ PORT: " 8080 " }).port).toBe(8080);
  });

  test.each([
    ["unset", undefined],
    ["empty", ""],
  ])("NODE_ENV=production with the signing secret %s is reported", (_, secret) => {
    const problems = problemsOf({ NODE_ENV: "production", CLERK_WEBHOOK_SIGNING_SECRET: secret });
    expect(problems).toEqual([expect.stringMatching(/^CLERK_WEBHOOK_SIGNING_SECRET: .*production/)]);
  });

  test("several signing secrets, separated by spaces or commas: each kept once, in order", () => {
    const other = `whsec_${Buffer.from("a second endpoint's secret, 32 b").toString("base64")}`;
    const config = loadConfig({ CLERK_WEBHOOK_SIGNING_SECRET: ` ${TEST_SECRET}, ${other}\n${TEST_SECRET},` });
    expect(config.webhookSigningSecret).toBe(`${TEST_SECRET} ${other}`);
    expect(loadConfig({ CLERK_WEBHOOK_SIGNING_SECRET: `${TEST_SECRET},${other}` })).toEqual(config);
  });

  test("a bad secret among several is reported naming which, without showing it", () => {
    const problems = problemsOf({
      NODE_ENV: "production",
      CLERK_WEBHOOK_SIGNING_SECRET: `${TEST_SECRET} sk_test_not_a_webhook_secret,whsec_no!`,
    });
    expect(problems).toEqual([
      "CLERK_WEBHOOK_SIGNING_SECRET: must be the endpoint's whsec_… secret (secret 2 of 3)",
      "CLERK_WEBHOOK_SIGNING_SECRET: must be the endpoint's whsec_… secret (secret 3 of 3)",
    ]);
  });

  test("a pool of one with the scheduled reconcile on is refused naming DATABASE_POOL_MAX: its lock would hold it", () => {
    const env = {
      DATABASE_URL: "postgres://localhost/app",
      DATABASE_POOL_MAX: "1",
      CLERK_SECRET_KEY: "sk_test_x",
    };
    expect(problemsOf(env)).toEqual([expect.stringMatching(/^DATABASE_POOL_MAX: must be at least 2 /)]);
    expect(loadConfig({ ...env, SYNC_INTERVAL_SECONDS: "0" }).database).toMatchObject({ poolMax: 1 });
    expect(loadConfig({ ...env, DATABASE_POOL_MAX: "2" }).database).toMatchObject({ poolMax: 2 });
    expect(loadConfig({ ...env, CLERK_SECRET_KEY: "" }).database).toMatchObject({ poolMax: 1 });
  });

  test("every bad variable is reported at once", () => {
    let caught: unknown;
    try {
      loadConfig({ PORT: "abc", DATABASE_URL: "mysql://localhost/app", NODE_ENV: "production", LOG_LEVEL: "loud" });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const { problems, message } = caught as ConfigError;
    const named = problems.map((problem) => problem.split(":")[0]).sort();
    expect(named).toEqual(["CLERK_WEBHOOK_SIGNING_SECRET", "DATABASE_URL", "LOG_LEVEL", "PORT"]);
    for (const name of named) expect(message).toContain(name);
  });
});

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: string;
}

/** `npm start`'s command with exactly `env` (plus PATH and HOME); killed if it is still running after 30 s. */
function startService(env: Record<string, string>): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const guard = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe("starting the service with a bad environment", () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), "cp-config-"));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  const expectRefused = (exit: Exit) => {
    const described = `exit ${exit.code} signal ${exit.signal}\nstderr: ${exit.stderr}\nstdout: ${exit.stdout}`;
    expect(exit.signal, described).toBeNull();
    expect(exit.code, described).toBeTypeOf("number");
    expect(exit.code, described).not.toBe(0);
    expect(exit.stdout, described).not.toMatch(/listening/);
    return described;
  };

  test("bad PORT and DATABASE_URL: exits non-zero naming both", async () => {
    const exit = await startService({
      NODE_ENV: "development",
      PORT: "not-a-port",
      DATABASE_URL: "mysql://localhost/app",
      PGLITE_DATA_DIR: join(dataDir, "pglite"),
    });
    const described = expectRefused(exit);
    expect(exit.stderr, described).toMatch(/cannot start/);
    expect(exit.stderr, described).toMatch(/PORT/);
    expect(exit.stderr, described).toMatch(/DATABASE_URL/);
    expect(existsSync(join(dataDir, "pglite")), "nothing created before refusing").toBe(false);
  });

  test("a bad second signing secret: refuses to start, naming which and showing neither", async () => {
    const exit = await startService({
      NODE_ENV: "production",
      PORT: "0",
      PGLITE_DATA_DIR: join(dataDir, "pglite"),
      CLERK_WEBHOOK_SIGNING_SECRET: `${TEST_SECRET}, sk_live_pasted_by_mistake`,
    });
    const described = expectRefused(exit);
    expect(exit.stderr, described).toMatch(/CLERK_WEBHOOK_SIGNING_SECRET: .*\(secret 2 of 2\)/);
    expect(exit.stderr + exit.stdout, described).not.toContain("sk_live_pasted_by_mistake");
    expect(exit.stderr + exit.stdout, described).not.toContain(TEST_SECRET);
    expect(existsSync(join(dataDir, "pglite")), "nothing created before refusing").toBe(false);
  });

  test("NODE_ENV=production without CLERK_WEBHOOK_SIGNING_SECRET: refuses to start, naming it", async () => {
    const exit = await startService({ NODE_ENV: "production", PORT: "0", PGLITE_DATA_DIR: join(dataDir, "pglite") });
    const described = expectRefused(exit);
    expect(exit.stderr, described).toMatch(/CLERK_WEBHOOK_SIGNING_SECRET/);
    expect(existsSync(join(dataDir, "webhook-signing-secret")), "no development secret in production").toBe(false);
  });
});

describe("the development webhook secret", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "cp-secret-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const configIn = (sub: string, env: Record<string, string> = {}): Config =>
    loadConfig({ PGLITE_DATA_DIR: join(dir, sub, "data", "pglite"), ...env });

  test("made once beside the embedded data, mode 0600, and the same secret the second time", () => {
    const config = configIn("a");
    const path = join(dir, "a", "data", "webhook-signing-secret");
    expect(existsSync(path)).toBe(false);

    const first = resolveWebhookSecret(config);
    expect(first).toEqual({ secret: expect.stringMatching(/^whsec_/), source: "dev-file", path });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, "utf8")).toBe(`${first.secret}\n`);

    const second = resolveWebhookSecret(configIn("a"));
    expect(second).toEqual(first);
  });

  test("usable: accepted as CLERK_WEBHOOK_SIGNING_SECRET and by svix, 32 random bytes", () => {
    const { secret } = resolveWebhookSecret(configIn("b"));
    expect(loadConfig({ CLERK_WEBHOOK_SIGNING_SECRET: secret }).webhookSigningSecret).toBe(secret);
    expect(Buffer.from(secret.slice("whsec_".length), "base64")).toHaveLength(32);
    const webhook = new Webhook(secret);
    const now = new Date();
    const signature = webhook.sign("msg_1", now, "{}");
    const headers = {
      "svix-id": "msg_1",
      "svix-timestamp": String(Math.floor(now.getTime() / 1000)),
      "svix-signature": signature,
    };
    expect(webhook.verify("{}", headers)).toEqual({});
  });

  test("another data directory gets another secret", () => {
    expect(resolveWebhookSecret(configIn("c")).secret).not.toBe(resolveWebhookSecret(configIn("d")).secret);
  });

  test("a configured secret is used as is and no file is made", () => {
    expect(resolveWebhookSecret(configIn("e", { CLERK_WEBHOOK_SIGNING_SECRET: TEST_SECRET }))).toEqual({
      secret: TEST_SECRET,
      source: "env",
    });
    expect(existsSync(join(dir, "e"))).toBe(false);
  });

  test("never in production: without a secret it throws and makes no file", () => {
    const production: Config = { ...configIn("f"), env: "production" };
    expect(() => resolveWebhookSecret(production)).toThrow(/CLERK_WEBHOOK_SIGNING_SECRET/);
    expect(existsSync(join(dir, "f"))).toBe(false);
  });
});
