import { and, asc, eq, inArray, isNotNull, sql } from "drizzle-orm";
import { type ClerkDirectory, MAX_IDS_PER_LOOKUP } from "../clerk/backend-api.js";
import { parseClerkUser } from "../clerk/events.js";
import { BACKGROUND, callDatabase } from "../db/call.js";
import { defineStatement, type RunStatement, runStatement, runTransaction } from "../db/query.js";
import { clerkDeliveries, clerkUserVersions } from "../db/schema.js";
import type { Db } from "../db/types.js";
import { isServiceError, ServiceError } from "../errors.js";
import { applyIsolating } from "./isolate.js";
import { type Outcome, outcomeOf } from "./outcome.js";
import { classifyUsers } from "./sync-page.js";
import { toUserRow, type UserRow } from "./user-row.js";
import { provisionUsers } from "./users.js";

/**
 * `npm run replay`: re-runs deliveries recorded as `skipped` or `failed` (a user without a usable e-mail; from
 * `npm run sync`, an e-mail held by another user or a payload we could not read) once an operator fixed the cause.
 *
 * Each is replayed with its user's current state, fetched from the Clerk Backend API (100 users per request), not
 * with a stored copy of the payload: the cause is often fixed in Clerk (an address added, a primary changed), which
 * only the current state shows; the version rule keeps it from undoing anything newer; a tombstoned user stays
 * deleted; and `clerk_deliveries` keeps holding no personal data. The delivery row gets the replay's outcome
 * (`provisioned`, `stale`, or still `skipped`/`failed` with the new reason) and `replayed_at`.
 */

export interface ReplayOptions {
  /** Only this delivery (`delivery_id`). */
  id?: string | undefined;
  /** Report what a replay would do; change nothing. */
  dryRun: boolean;
  signal: AbortSignal;
  onProgress?: (progress: { done: number; total: number }) => void;
}

export interface ReplayedDelivery {
  deliveryId: string;
  userId: string;
  /** `skipped:no_usable_email`, `failed:email_conflict`, … */
  before: string;
  /**
   * `provisioned`, `stale`, still `skipped:…` / `failed:…` (dry run: what it would be), or `duplicate`: another
   * replay took this delivery meanwhile.
   */
  after: string;
}

export interface ReplayResult {
  status: "completed" | "interrupted";
  /** Deliveries selected for replay. */
  selected: number;
  /** Deliveries by their outcome after the replay. */
  counts: Record<string, number>;
  /** At most 1,000, in replay order. */
  deliveries: ReplayedDelivery[];
}

const MAX_LISTED = 1_000;

interface Selected {
  deliveryId: string;
  userId: string;
  outcome: string;
  reason: string | null;
}

const label = (outcome: string, reason: string | null) => (reason ? `${outcome}:${reason}` : outcome);
const notReplayable = (message: string) => new ServiceError("not_replayable", message);

async function select(db: Db, id: string | undefined): Promise<Selected[]> {
  const columns = {
    deliveryId: clerkDeliveries.deliveryId,
    userId: clerkDeliveries.clerkUserId,
    outcome: clerkDeliveries.outcome,
    reason: clerkDeliveries.reason,
  };
  const open = inArray(clerkDeliveries.outcome, ["skipped", "failed"]);
  if (id === undefined) {
    const rows = await callDatabase(BACKGROUND, () =>
      db
        .select(columns)
        .from(clerkDeliveries)
        .where(and(open, isNotNull(clerkDeliveries.clerkUserId)))
        .orderBy(asc(clerkDeliveries.receivedAt), asc(clerkDeliveries.deliveryId)),
    );
    return rows.map((row) => ({ ...row, userId: row.userId ?? "" }));
  }
  const [delivery] = await callDatabase(BACKGROUND, () =>
    db.select(columns).from(clerkDeliveries).where(eq(clerkDeliveries.deliveryId, id)),
  );
  if (!delivery) throw notReplayable(`no delivery ${id} in clerk_deliveries`);
  if (delivery.outcome !== "skipped" && delivery.outcome !== "failed") {
    throw notReplayable(`delivery ${id} is ${delivery.outcome}: only skipped and failed deliveries are replayed`);
  }
  if (!delivery.userId) throw notReplayable(`delivery ${id} names no Clerk user`);
  return [{ ...delivery, userId: delivery.userId }];
}

/** Chunks of at most 100 distinct users: one Clerk lookup and one statement each. */
function chunked(selected: readonly Selected[]): Selected[][] {
  const chunks: Selected[][] = [];
  let users = new Set<string>();
  for (const delivery of selected) {
    if (!users.has(delivery.userId) && users.size === MAX_IDS_PER_LOOKUP) users = new Set();
    if (users.size === 0) chunks.push([]);
    users.add(delivery.userId);
    chunks[chunks.length - 1]?.push(delivery);
  }
  return chunks;
}

export async function replayDeliveries(
  { db, directory }: { db: Db; directory: ClerkDirectory },
  options: ReplayOptions,
): Promise<ReplayResult> {
  const selected = await select(db, options.id);
  const result: ReplayResult = { status: "completed", selected: selected.length, counts: {}, deliveries: [] };
  const record = (delivery: Selected, after: string) => {
    result.counts[after] = (result.counts[after] ?? 0) + 1;
    if (result.deliveries.length < MAX_LISTED) {
      const { deliveryId, userId } = delivery;
      result.deliveries.push({ deliveryId, userId, before: label(delivery.outcome, delivery.reason), after });
    }
  };
  let done = 0;
  for (const chunk of chunked(selected)) {
    if (options.signal.aborted) {
      result.status = "interrupted";
      break;
    }
    try {
      const verdicts = await judge(db, directory, chunk);
      const after = options.dryRun ? await wouldBe(db, chunk, verdicts) : await replayChunk(db, chunk, verdicts);
      for (const delivery of chunk) record(delivery, after.get(delivery.deliveryId) ?? "duplicate");
    } catch (error) {
      if (!isServiceError(error, "interrupted")) throw error;
      result.status = "interrupted";
      break;
    }
    done += chunk.length;
    options.onProgress?.({ done, total: selected.length });
  }
  return result;
}

/** What a user comes to: a final word without writing (`keep`: its delivery keeps the outcome it had), or a row. */
type Verdict = { outcome: string | "keep"; reason: string | null } | { row: UserRow };

async function judge(db: Db, directory: ClerkDirectory, chunk: Selected[]): Promise<Map<string, Verdict>> {
  const ids = [...new Set(chunk.map((d) => d.userId))];
  const tombstoned = new Set(
    (
      await callDatabase(BACKGROUND, () =>
        db
          .select({ userId: clerkUserVersions.userId })
          .from(clerkUserVersions)
          .where(and(inArray(clerkUserVersions.userId, ids), isNotNull(clerkUserVersions.deletedAt))),
      )
    ).map((row) => row.userId),
  );
  const live = ids.filter((id) => !tombstoned.has(id));
  const current = new Map<string, unknown>();
  for (const raw of live.length > 0 ? await directory.usersById(live) : []) {
    const id = (raw as { id?: unknown }).id;
    if (typeof id === "string") current.set(id, raw);
  }
  const verdicts = new Map<string, Verdict>();
  for (const id of ids) {
    const raw = current.get(id);
    if (tombstoned.has(id)) verdicts.set(id, { outcome: "stale", reason: null });
    // Gone from Clerk, but no user.deleted applied here: left as it was; `npm run sync -- --prune` removes such
    // users, as a 404 must never erase anything on its own.
    else if (raw === undefined) verdicts.set(id, { outcome: "keep", reason: "not_in_clerk" });
    else verdicts.set(id, verdictOf(raw));
  }
  return verdicts;
}

function verdictOf(raw: unknown): Verdict {
  try {
    const mapped = toUserRow(parseClerkUser(raw));
    return mapped.kind === "row" ? { row: mapped.row } : { outcome: "skipped", reason: mapped.reason };
  } catch (error) {
    if (!isServiceError(error, "invalid_payload")) throw error;
    return { outcome: "failed", reason: "invalid_payload" };
  }
}

const finalOutcome = (delivery: Selected, verdict: { outcome: string; reason: string | null }) => ({
  outcome: verdict.outcome === "keep" ? delivery.outcome : verdict.outcome,
  reason: verdict.reason,
});

/** `--dry-run`: what each delivery would come to. */
async function wouldBe(db: Db, chunk: Selected[], verdicts: Map<string, Verdict>): Promise<Map<string, string>> {
  const after = new Map<string, string>();
  for (const delivery of chunk) {
    const verdict = verdicts.get(delivery.userId);
    if (!verdict) continue;
    if (!("row" in verdict)) {
      const { outcome, reason } = finalOutcome(delivery, verdict);
      after.set(delivery.deliveryId, label(outcome, reason));
      continue;
    }
    const [outcome = "stale"] = Object.keys(await classifyUsers(db, [verdict.row]));
    const written = outcome === "created" || outcome === "updated";
    after.set(delivery.deliveryId, written ? "provisioned" : outcome.startsWith("failed:") ? outcome : "stale");
  }
  return after;
}

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
 * The users written with their current state (`provisionUsers`) and their deliveries marked in the same
 * transaction (`provisioned` when written, `stale` when what is stored is as new or newer, or tombstoned: the
 * webhook's answers to the same situations); then the deliveries decided without writing. Returns each delivery's
 * new outcome label, for those this replay marked.
 */
async function replayChunk(db: Db, chunk: Selected[], verdicts: Map<string, Verdict>): Promise<Map<string, string>> {
  const rows = [...verdicts.values()].flatMap((v) => ("row" in v ? [v.row] : []));
  const after = new Map<string, string>();
  const { failures } = await applyIsolating(rows, (part) =>
    runTransaction(
      db,
      async (run) => {
        const outcomes = new Map<string, Outcome>();
        for (const { userId, result } of await provisionUsers(run, part)) outcomes.set(userId, outcomeOf(result));
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
