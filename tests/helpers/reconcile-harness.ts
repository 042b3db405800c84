import type { CliDatabase } from "./cli.js";
import { type ServiceProcess, startService } from "./service-process.js";
import { type CommandHarness, openCommandHarness } from "./sync-harness.js";

/**
 * The scheduled reconcile's world: the real server (a child process) against a database of the test's own and the
 * fake Clerk Backend API. PGlite is one process's database: query it only while no server runs.
 */

export interface ReconcileHarness extends CommandHarness {
  /** Starts a server with the reconcile every `intervalSeconds`, Clerk's key and URL, then `extra`. */
  serve(intervalSeconds: number, extra?: Record<string, string>): Promise<ServiceProcess>;
  /** Users created in (fake) Clerk, each updated later than the one before. */
  signUp(n: number): string[];
  storedUsers(): Promise<{ id: string; workspaces: number }[]>;
}

export async function openReconcileHarness(database: CliDatabase): Promise<ReconcileHarness> {
  const h = await openCommandHarness(database);
  const services: ServiceProcess[] = [];
  let clock = 1_760_000_000_000;
  return {
    ...h,
    serve: async (intervalSeconds, extra = {}) => {
      const service = await startService({
        env: h.env({ SYNC_INTERVAL_SECONDS: String(intervalSeconds), SYNC_REQUESTS_PER_10S: "500", ...extra }),
      });
      services.push(service);
      return service;
    },
    signUp: (n) => Array.from({ length: n }, () => h.userInClerk({ updatedAt: clock++ }).id),
    storedUsers: () =>
      database.query<{ id: string; workspaces: number }>(
        "SELECT u.id, (SELECT count(*)::int FROM workspaces w WHERE w.user_id = u.id) AS workspaces FROM users u ORDER BY u.id",
      ),
    close: async () => {
      await Promise.all(services.map((service) => service.kill()));
      await h.close();
    },
  };
}

/** The value of one sample in a Prometheus text exposition (labels given as `a="b"` pairs), or undefined. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const has = (match[2] ?? "").split(",").filter(Boolean);
    if (Object.entries(labels).every(([key, value]) => has.includes(`${key}="${value}"`))) return Number(match[3]);
  }
  return undefined;
}

export async function scrape(service: ServiceProcess): Promise<string> {
  const res = await fetch(`${service.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  return res.text();
}

/** Resolves with the first log line `matches` accepts, polling; rejects after `withinMs` with the output. */
export async function logLine(
  service: ServiceProcess,
  matches: (line: Record<string, unknown>) => boolean,
  withinMs: number,
): Promise<Record<string, unknown>> {
  const until = performance.now() + withinMs;
  for (;;) {
    const found = service.logs.find(matches);
    if (found) return found;
    if (performance.now() > until) throw new Error(`no such log line within ${withinMs} ms:\n${service.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export const message = (text: string) => (line: Record<string, unknown>) =>
  typeof line.msg === "string" && line.msg.startsWith(text);
