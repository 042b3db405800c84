import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { BENCH_SECRET } from "./workload.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

export interface RunningService {
  pid: number;
  port: number;
  /** From spawning the process to its first 200 on /health, in ms. */
  startMs: number;
  /** The service's stderr so far (its stdout, the pino lines, goes to /dev/null as to a log shipper). */
  stderr(): string;
  /** Resident memory now and at its peak (VmRSS, VmHWM), in MB. */
  memory(): { rssMb: number; peakMb: number };
  /** CPU time the process has used so far (user + system), in ms. */
  cpuMs(): number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address === "string") throw new Error("no free port");
  return address.port;
}

/** utime + stime from /proc/<pid>/stat (fields 14 and 15, in clock ticks of 10 ms on Linux). */
export function readCpuMs(pid: number) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function readMemory(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rssMb: kb("VmRSS") / 1024, peakMb: kb("VmHWM") / 1024 };
}

/** What `npm start` does before serving: dist/ built when missing or older than the sources. */
export function buildService() {
  execFileSync(process.execPath, ["scripts/build.mjs", "--if-stale"], { cwd: ROOT, stdio: "inherit" });
}

/**
 * Bench-only servers (bench/*-server.ts) compiled like the service, so that no TypeScript loader runs in any
 * measured process. Written to bench/results/, two levels below the root like dist/db/client.js, so that the
 * migrations folder it finds relative to itself is the same.
 */
export async function buildBenchServer(source: string): Promise<string> {
  const { build } = await import("esbuild");
  const outfile = `bench/results/${source.replace(/^bench\//, "").replace(/\.ts$/, ".mjs")}`;
  await build({
    entryPoints: [source],
    outfile: `${ROOT}/${outfile}`,
    bundle: true,
    packages: "external",
    format: "esm",
    platform: "node",
    target: "node20",
    logLevel: "warning",
  });
  return outfile;
}

/**
 * Starts `entry` (dist/main.js, or a compiled bench server) as its own Node process, as `npm start` runs it
 * (`node` alone; `loader: "tsx"` runs a TypeScript entry the way `npm start` did before, for comparison), and waits
 * until /health answers 200.
 */
export async function startService(options: {
  entry: string;
  env: Record<string, string>;
  nodeArgs?: string[];
  loader?: "tsx";
}): Promise<RunningService> {
  const port = await freePort();
  const env: Record<string, string | undefined> = {
    ...process.env,
    LOG_LEVEL: "info",
    ...options.env,
    PORT: String(port),
    HOST: "127.0.0.1",
    NODE_ENV: "production",
    CLERK_WEBHOOK_SIGNING_SECRET: BENCH_SECRET,
  };
  const loader = options.loader ? ["--import", options.loader] : [];
  const spawnedAt = performance.now();
  const child: ChildProcess = spawn(process.execPath, [...(options.nodeArgs ?? []), ...loader, options.entry], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${options.entry}`);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${options.entry} exited at start:\n${stderr}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${options.entry} did not become healthy:\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const startMs = performance.now() - spawnedAt;
  return {
    pid,
    port,
    startMs,
    stderr: () => stderr,
    memory: () => readMemory(pid),
    cpuMs: () => readCpuMs(pid),
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
