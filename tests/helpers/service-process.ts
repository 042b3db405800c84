import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { type SignedDelivery, TEST_SECRET } from "./clerk.js";

export const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Svix gives up on an attempt after 15 s; any answer slower than that is a failed delivery. */
export const SVIX_ATTEMPT_TIMEOUT_MS = 15_000;

/** Variables of the test runner's environment that must not leak into the service under test. */
const SERVICE_VARIABLES = [
  "DATABASE_URL",
  "PGLITE_DATA_DIR",
  "CLERK_WEBHOOK_SIGNING_SECRET",
  "CLERK_SECRET_KEY",
  "CLERK_API_URL",
  "PORT",
  "HOST",
  "LOG_LEVEL",
  "NODE_ENV",
  "DATABASE_POOL_MAX",
  "DATABASE_IDLE_TIMEOUT_SECONDS",
  "DATABASE_CONNECT_TIMEOUT_SECONDS",
  "DATABASE_STATEMENT_TIMEOUT_MS",
  "HTTP_MAX_CONNECTIONS",
  "HTTP_HEADERS_TIMEOUT_SECONDS",
  "HTTP_REQUEST_TIMEOUT_SECONDS",
  "HTTP_KEEP_ALIVE_TIMEOUT_SECONDS",
  "CLERK_LOOKUP_CACHE_SECONDS",
  "CLERK_ACCEPT_PENDING_SESSIONS",
  "SYNC_INTERVAL_SECONDS",
  "FULL_SYNC_INTERVAL_SECONDS",
  "SYNC_REQUESTS_PER_10S",
];

export interface ServiceProcess {
  child: ChildProcess;
  /** http://127.0.0.1:PORT of the running service. */
  url: string;
  /** Every stdout line, parsed when it is JSON (pino), else `{ raw }`. */
  logs: Record<string, unknown>[];
  /** stdout and stderr as written. */
  output(): string;
  alive(): boolean;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  post(delivery: SignedDelivery, options?: { timeoutMs?: number }): Promise<Response>;
  /** SIGKILL if still running (test clean-up). */
  kill(): Promise<void>;
}

/**
 * Starts the real service as a child process (`node --import tsx src/main.ts` unless `command` says otherwise), on a
 * free port, and waits for its "listening" line.
 */
export async function startService(options: {
  env: Record<string, string>;
  command?: { file: string; args: string[] };
}): Promise<ServiceProcess> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of SERVICE_VARIABLES) delete env[name];
  Object.assign(env, { PORT: "0", HOST: "127.0.0.1", NODE_ENV: "test", CLERK_WEBHOOK_SIGNING_SECRET: TEST_SECRET });
  Object.assign(env, options.env);
  for (const [name, value] of Object.entries(env)) if (value === "") delete env[name];

  const { file, args } = options.command ?? { file: process.execPath, args: ["--import", "tsx", "src/main.ts"] };
  const child = spawn(file, args, { cwd: PROJECT_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  const logs: Record<string, unknown>[] = [];
  let text = "";
  let pending = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    text += chunk;
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      if (!line) continue;
      try {
        logs.push(JSON.parse(line));
      } catch {
        logs.push({ raw: line });
      }
    }
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    text += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service did not start within 30 s:\n${text}`)), 30_000);
    const poll = setInterval(() => {
      const listening = logs.find((line) => line.msg === "listening");
      if (listening) {
        clearInterval(poll);
        clearTimeout(timer);
        resolve(Number(listening.port));
      }
    }, 50);
    void exited.then(({ code, signal }) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`service exited (${code ?? signal}) before listening:\n${text}`));
    });
  });
  const url = `http://127.0.0.1:${port}`;

  return {
    child,
    url,
    logs,
    output: () => text,
    alive: () => child.exitCode === null && child.signalCode === null,
    exited,
    post: (delivery, { timeoutMs = SVIX_ATTEMPT_TIMEOUT_MS } = {}) =>
      fetch(`${url}/webhooks/clerk`, {
        method: "POST",
        body: delivery.body,
        headers: delivery.headers,
        signal: AbortSignal.timeout(timeoutMs),
      }),
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
}

/** GET /health's status, or `undefined` when no answer came within Svix's limit. */
export async function healthStatus(service: ServiceProcess): Promise<number | undefined> {
  try {
    const res = await fetch(`${service.url}/health`, { signal: AbortSignal.timeout(SVIX_ATTEMPT_TIMEOUT_MS) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return undefined;
  }
}

/** Polls /health until it answers `status`; the number of milliseconds that took, or `undefined` past `withinMs`. */
export async function waitForHealth(
  service: ServiceProcess,
  status: number,
  withinMs: number,
): Promise<number | undefined> {
  const started = performance.now();
  while (performance.now() - started < withinMs) {
    if ((await healthStatus(service)) === status) return Math.round(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return undefined;
}
