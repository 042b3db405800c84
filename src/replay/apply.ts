import { sql } from "drizzle-orm";
import { BACKGROUND } from "../db/call.js";
import { defineStatement, type RunStatement, runStatement, runTransaction } from "../db/query.js";
import { clerkDeliveries } from "../db/schema.js";
import type { Db } from "../db/types.js";
import { type Outcome, outcomeOf } from "../outcome.js";
import { applyIsolating } from "../provisioning/isolate.js";
import { KINDS } from "../provisioning/kinds.js";
import type { Selected } from "./selection.js";
import { finalOutcome, label, type Verdict } from "./verdicts.js";

/** Replayed deliveries get their new outcome and `replayed_at`, unless another replay took them meanwhile. */
const markStatement = defineStatement<{ ids: string[]; outcomes: string[]; reasons: (string | null)[] }>(
  (v) => sql`UPDATE ${clerkDeliveries} d SET outcome = x.outcome, reason = x.reason, replayed_at = now()
  FROM unnest(${v.ids}::text[], ${v.outcomes}::text[], ${v.reasons}::text[]) AS x(delivery_id, outcome, reason)
  WHERE d.delivery_id = x.delivery_id AND d.outcome IN ('skipped', 'failed')
  RETURNING d.delivery_id`,
);

type Mark = { deliveryId: string; outcome: string; reason: string | null };

async function mark(run: RunStatement, marks: readonly Mark[]): Promise<Set<string>> {
  if (marks.length === 0) return new Set();
  const statement = markStatement({
    ids: marks.map((m) => m.deliveryId),
    outcomes: marks.map((m) => m.outcome),
    reasons: marks.map((m) => m.reason),
  });
  return new Set((await run<{ delivery_id: string }>(statement)).map((row) => row.delivery_id));
}

/**
 * The users written with their current state (the users' `write`) and their deliveries marked in the same
 * transaction (`provisioned` when written, `stale` when what is stored is as new or newer, or tombstoned: the
 * webhook's answers to the same situations); then the deliveries decided without writing. Returns each delivery's
 * new outcome label, for those this replay marked.
 */
export async function replayChunk(
  db: Db,
  chunk: Selected[],
  verdicts: Map<string, Verdict>,
): Promise<Map<string, string>> {
  const rows = [...verdicts.values()].flatMap((v) => ("row" in v ? [v.row] : []));
  const after = new Map<string, string>();
  const { failures } = await applyIsolating(rows, (part) =>
    runTransaction(
      db,
      async (run) => {
        const outcomes = new Map<string, Outcome>();
        for (const { id, result } of await KINDS.users.write(run, part)) outcomes.set(id, outcomeOf(result));
        const marks = chunk.flatMap((d) => {
          const outcome = outcomes.get(d.userId);
          return outcome ? [{ deliveryId: d.deliveryId, outcome, reason: null }] : [];
        });
        for (const id of await mark(run, marks)) after.set(id, marks.find((m) => m.deliveryId === id)?.outcome ?? "");
      },
      BACKGROUND,
    ),
  );
  const failed = new Map(failures.map((f) => [f.row.userId, f.reason]));
  const finals: Mark[] = [];
  for (const delivery of chunk) {
    const verdict = verdicts.get(delivery.userId);
    const reason = failed.get(delivery.userId);
    if (reason !== undefined) finals.push({ deliveryId: delivery.deliveryId, outcome: "failed", reason });
    else if (verdict && !("row" in verdict))
      finals.push({ deliveryId: delivery.deliveryId, ...finalOutcome(delivery, verdict) });
  }
  const marked = await runStatementMarks(db, finals);
  for (const m of finals) if (marked.has(m.deliveryId)) after.set(m.deliveryId, label(m.outcome, m.reason));
  return after;
}

const runStatementMarks = (db: Db, marks: readonly Mark[]) =>
  mark((statement) => runStatement(db, statement, BACKGROUND), marks);
