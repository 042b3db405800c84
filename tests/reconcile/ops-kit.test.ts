import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { PROJECT_ROOT, type ServiceProcess, startService } from "../helpers/service-process.js";

/**
 * The operations kit (ops/): the alerting rules pass their promtool unit tests (each alert firing and not firing),
 * and every metric the rules and the dashboard use is one a real running server exports.
 */

const PROMTOOL = process.env.PROMTOOL ?? "/usr/bin/promtool";
const RULES = join(PROJECT_ROOT, "ops/prometheus/alerts.yml");
const DASHBOARD = join(PROJECT_ROOT, "ops/grafana/clerk-provisioner.json");

const promtool = (...args: string[]) =>
  execFileSync(PROMTOOL, args, { cwd: join(PROJECT_ROOT, "ops/prometheus"), encoding: "utf8", stdio: "pipe" });

describe("ops/prometheus", () => {
  test("the rules are valid and their unit tests pass (promtool test rules)", () => {
    expect(promtool("check", "rules", "alerts.yml")).toMatch(/SUCCESS: 6 rules found/);
    expect(promtool("test", "rules", "alerts.test.yml")).toMatch(/SUCCESS/);
  });

  test("every alert has a firing and a not-firing case", () => {
    const rules = readFileSync(RULES, "utf8");
    const tests = readFileSync(join(PROJECT_ROOT, "ops/prometheus/alerts.test.yml"), "utf8");
    const alerts = [...rules.matchAll(/- alert: (\w+)/g)].map((m) => m[1] as string);
    expect(alerts).toHaveLength(6);
    for (const alert of alerts) {
      const cases = tests.split(/\n\s+- eval_time:/).filter((c) => c.includes(`alertname: ${alert}\n`));
      expect(
        cases.some((c) => c.includes("exp_alerts: []")),
        `${alert}: a case where it does not fire`,
      ).toBe(true);
      expect(
        cases.some((c) => c.includes("exp_labels")),
        `${alert}: a case where it fires`,
      ).toBe(true);
    }
  });
});

/** Metric names a text uses: ours (`clerk_…`) and prom-client's default ones (`process_…`, `nodejs_…`). */
const namesIn = (text: string) => new Set(text.match(/\b(?:clerk|process|nodejs)_[a-z0-9_]+\b/g) ?? []);

/** Every series name the exposition can hold: each `# TYPE`, with a histogram's or summary's suffixes. */
function exported(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (!name) continue;
    names.add(name);
    if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(name + suffix);
    if (type === "summary") for (const suffix of ["_sum", "_count"]) names.add(name + suffix);
  }
  return names;
}

describe("the metrics the kit uses, scraped from a running server", () => {
  let service: ServiceProcess;
  let names: Set<string>;
  const dir = mkdtempSync(join(tmpdir(), "ops-kit-"));
  beforeAll(async () => {
    service = await startService({ env: { PGLITE_DATA_DIR: join(dir, "pglite") } });
    const res = await fetch(`${service.url}/metrics`);
    expect(res.status).toBe(200);
    names = exported(await res.text());
  }, 60_000);
  afterAll(async () => {
    await service?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  test.each([
    ["ops/prometheus/alerts.yml", RULES],
    ["ops/grafana/clerk-provisioner.json", DASHBOARD],
  ])("every metric name in %s is exported", (_, path) => {
    const used = namesIn(readFileSync(path, "utf8"));
    expect(used.size).toBeGreaterThanOrEqual(path === RULES ? 6 : 12);
    const missing = [...used].filter((name) => !names.has(name));
    expect(missing, `exported: ${[...names].join(", ")}`).toEqual([]);
  });

  test("the dashboard's panels each have a query, over the job variable", () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    for (const panel of dashboard.panels) {
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets) expect(target.expr, panel.title).toContain('job=~"$job"');
    }
  });
});
