import type { PruneReport } from "../sync/prune.js";
import type { KindResult, ReconcileResult } from "../sync/sync.js";
import { type CommandIo, formatCount } from "./cli.js";
import { formatDuration } from "./progress.js";

/**
 * `npm run sync`'s summary: `--json`'s object (the users' keys at the top, as always, and every kind under its name
 * with the same keys) and the human one.
 */

type Counts = Record<string, number>;

function byPrefix(counts: Counts, prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, n] of Object.entries(counts))
    if (key.startsWith(prefix) && n !== 0) out[key.slice(prefix.length)] = n;
  return out;
}
const total = (parts: Record<string, number>) => Object.values(parts).reduce((a, b) => a + b, 0);

const pruneSummary = (prune: PruneReport | undefined) =>
  prune
    ? { candidates: prune.candidates, gone: prune.gone, refused: prune.refused ?? null, ids: prune.ids.slice(0, 1_000) }
    : null;

const outcomes = (counts: Counts) => ({
  created: counts.created ?? 0,
  updated: counts.updated ?? 0,
  unchanged: counts.unchanged ?? 0,
  skipped: byPrefix(counts, "skipped:"),
  failed: byPrefix(counts, "failed:"),
  pruned: counts.pruned ?? 0,
});

function kindSummary(result: KindResult | undefined) {
  if (!result) return null;
  return {
    listed: result.listed,
    total: result.total,
    resumedAt: result.resumedAt ?? null,
    ...outcomes(result.counts),
    prune: pruneSummary(result.prune),
    failures: result.failures.slice(0, 100),
  };
}

export function summarize(result: ReconcileResult, dryRun: boolean) {
  return {
    status: result.status,
    dryRun,
    runId: result.runId ?? null,
    resumedAt: result.resumedAt ?? null,
    listed: result.listed,
    total: result.total,
    ...outcomes(result.counts),
    prune: pruneSummary(result.prune),
    failures: result.failures.slice(0, 100),
    users: kindSummary(result.kinds.users),
    organizations: kindSummary(result.kinds.organizations),
    memberships: kindSummary(result.kinds.memberships),
    subscriptionItems: kindSummary(result.kinds.subscriptionItems),
    permissions: kindSummary(result.kinds.permissions),
    roles: kindSummary(result.kinds.roles),
    invitations: kindSummary(result.kinds.invitations),
    warnings: result.warnings,
    timings: {
      totalMs: Math.round(result.timings.totalMs),
      databaseMs: Math.round(result.timings.databaseMs),
      clerkWaitMs: Math.round(result.timings.clerkWaitMs),
    },
  };
}

type Summary = ReturnType<typeof summarize>;

/** The kinds reported under their own name, in the order they are listed. */
const OTHER_KINDS = [
  "organizations",
  "memberships",
  "permissions",
  "roles",
  "invitations",
  "subscriptionItems",
] as const;

/** Rows that failed, of every kind. */
const failedCount = (summary: Summary) =>
  total(summary.failed) + OTHER_KINDS.reduce((n, kind) => n + total(summary[kind]?.failed ?? {}), 0);

/** Done, but not all is well: rows failed, or a listing may have missed objects. */
export const incomplete = (summary: Summary) => failedCount(summary) > 0 || summary.warnings.length > 0;

export function printHuman(summary: Summary, stdout: CommandIo["stdout"]) {
  const out: string[] = [];
  const seconds = summary.timings.totalMs / 1000;
  const verb = summary.dryRun ? "dry run" : `sync ${summary.status}`;
  const run =
    summary.runId === null
      ? ""
      : ` (run ${summary.runId}${summary.resumedAt === null ? "" : `, resumed at user ${formatCount(summary.resumedAt)}`})`;
  out.push(
    `${verb}${run}: ${formatCount(summary.listed)} of ${formatCount(summary.total)} Clerk users listed in ${formatDuration(seconds)}${seconds > 0 ? ` (${formatCount(summary.listed / seconds)}/s)` : ""}${summary.dryRun ? "; nothing was changed" : ""}`,
  );
  const would = summary.dryRun ? "would be " : "";
  const line = (label: string, n: number, detail?: Record<string, number>) => {
    const parts = detail ? Object.entries(detail).map(([reason, count]) => `${reason} ${formatCount(count)}`) : [];
    out.push(`  ${label.padEnd(22)}${formatCount(n).padStart(10)}${parts.length > 0 ? `   ${parts.join(" · ")}` : ""}`);
  };
  line(`${would}created`, summary.created);
  line(`${would}updated`, summary.updated);
  line("unchanged", summary.unchanged);
  line("skipped", total(summary.skipped), summary.skipped);
  if (summary.prune) line(`${would}pruned`, summary.dryRun ? summary.prune.ids.length : summary.pruned);
  line(summary.dryRun ? "would fail" : "failed", total(summary.failed), summary.failed);
  for (const kind of OTHER_KINDS) {
    const part = summary[kind];
    if (part) out.push(kindLine(kind, part, summary.dryRun));
  }
  if (summary.failures.length > 0) {
    out.push(
      `failed users: ${summary.failures
        .slice(0, 20)
        .map((f) => `${f.userId} (${f.reason})`)
        .join(", ")}${summary.failures.length > 20 ? ", …" : ""}`,
    );
  }
  out.push(...pruneLines(summary));
  for (const warning of summary.warnings) out.push(`warning: ${warning}`);
  if (summary.status === "interrupted") out.push("interrupted: run `npm run sync` again to continue where it stopped");
  if (!summary.dryRun && total(summary.failed) + total(summary.skipped) > 0) {
    out.push("skipped and failed users are recorded in clerk_deliveries: `npm run replay` retries them once fixed");
  }
  stdout.write(`${out.join("\n")}\n`);
}

/** `organizations: 3 of 3 listed · created 2 · …`, the counts that are not zero. */
function kindLine(kind: string, part: NonNullable<Summary["organizations"]>, dryRun: boolean) {
  const would = dryRun ? "would be " : "";
  const parts = [
    [`${would}created`, part.created],
    [`${would}updated`, part.updated],
    ["unchanged", part.unchanged],
    ["skipped", total(part.skipped)],
    [dryRun ? "would fail" : "failed", total(part.failed)],
    [`${would}pruned`, dryRun ? (part.prune?.ids.length ?? 0) : part.pruned],
  ].filter(([, n]) => n !== 0);
  return `${kind}: ${formatCount(part.listed)} of ${formatCount(part.total)} listed${parts.map(([label, n]) => ` · ${label} ${formatCount(Number(n))}`).join("")}`;
}

function pruneLines(summary: Summary): string[] {
  const out: string[] = [];
  const kinds = [
    ["users", summary.prune] as const,
    ...OTHER_KINDS.map((kind) => [kind, summary[kind]?.prune ?? null] as const),
  ];
  for (const [kind, prune] of kinds) {
    if (prune?.refused) {
      const what = kind === "users" ? "stored users are" : `stored ${kind} are`;
      out.push(
        `prune refused: ${formatCount(prune.gone)}+ ${what} not in Clerk, more than the limit of ${formatCount(prune.refused.limit)}; nothing was removed. If CLERK_SECRET_KEY is the right instance, run again with --max-prune ${prune.gone}.`,
      );
    } else if (summary.dryRun && prune && prune.ids.length > 0) {
      out.push(
        `would prune${kind === "users" ? "" : ` ${kind}`}: ${prune.ids.slice(0, 20).join(", ")}${prune.ids.length > 20 ? ", …" : ""}`,
      );
    }
  }
  return out;
}
