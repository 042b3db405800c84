import { sql } from "drizzle-orm";
import { ClerkAbortedError, type ClerkDirectory, MAX_IDS_PER_LOOKUP } from "../clerk/backend-api.js";
import { type ClerkUser, InvalidPayloadError, parseClerkUser } from "../clerk/events.js";
import { withDeadline } from "../db/errors.js";
import { defineStatement, queryRows, runStatement } from "../db/query.js";
import { clerkDeliveries, clerkUserVersions } from "../db/schema.js";
import type { Db } from "../db/types.js";
import { classifyUsers, markReplayed, type ReplayTarget, replayUsers } from "./provision-batch.js";
import { type UserRow, usableEmail, userRow } from "./provision-rules.js";

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
  /** Only this delivery (`svix_id`). */
  id?: string | undefined;
  /** Report what a replay would do; change nothing. */
  dryRun: boolean;
  signal: AbortSignal;
  onProgress?: (progress: { done: number; total: number }) => void;
}

export interface ReplayedDelivery {
  svixId: string;
  userId: string;
  /** `skipped:no_usable_email`, `failed:email_conflict`, … */
  before: string;
  /** `provisioned`, `stale`, or still `skipped:…` / `failed:…` (dry run: what it would be). */
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

export class DeliveryNotReplayableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DeliveryNotReplayableError";
  }
}

const DEADLINE_MS = 60_000;

/** Which of these users are tombstoned (a `user.deleted` was applied): their deliveries are stale, Clerk or not. */
const tombstonedStatement = defineStatement<{ ids: string[] }>(
  (v) => sql`SELECT user_id FROM ${clerkUserVersions}
  WHERE ${clerkUserVersions.userId} = ANY(${v.ids}::text[]) AND ${clerkUserVersions.deletedAt} IS NOT NULL`,
);
const MAX_LISTED = 1_000;

interface Selected {
  svix_id: string;
  clerk_user_id: string;
  outcome: string;
  reason: string | null;
}

const label = (outcome: string, reason: string | null) => (reason ? `${outcome}:${reason}` : outcome);

async function select(db: Db, id: string | undefined): Promise<Selected[]> {
  const rows = (query: ReturnType<typeof sql>) => withDeadline(DEADLINE_MS, () => queryRows<Selected>(db, query));
  if (id === undefined) {
    return rows(sql`SELECT svix_id, clerk_user_id, outcome, reason FROM ${clerkDeliveries}
      WHERE ${clerkDeliveries.outcome} IN ('skipped', 'failed') AND ${clerkDeliveries.clerkUserId} IS NOT NULL
      ORDER BY ${clerkDeliveries.receivedAt}, ${clerkDeliveries.svixId}`);
  }
  const [delivery] = await rows(
    sql`SELECT svix_id, clerk_user_id, outcome, reason FROM ${clerkDeliveries} WHERE ${clerkDeliveries.svixId} = ${id}`,
  );
  if (!delivery) throw new DeliveryNotReplayableError(`no delivery ${id} in clerk_deliveries`);
  if (delivery.outcome !== "skipped" && delivery.outcome !== "failed") {
    throw new DeliveryNotReplayableError(
      `delivery ${id} is ${delivery.outcome}: only skipped and failed deliveries are replayed`,
    );
  }
  if (!delivery.clerk_user_id) throw new DeliveryNotReplayableError(`delivery ${id} names no Clerk user`);
  return [delivery];
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
      result.deliveries.push({
        svixId: delivery.svix_id,
        userId: delivery.clerk_user_id,
        before: label(delivery.outcome, delivery.reason),
        after,
      });
    }
  };

  // Chunks of at most 100 distinct users: one Clerk lookup and one statement each.
  const chunks: Selected[][] = [];
  let users = new Set<string>();
  for (const delivery of selected) {
    if (!users.has(delivery.clerk_user_id) && users.size === MAX_IDS_PER_LOOKUP) {
      users = new Set();
    }
    if (users.size === 0) chunks.push([]);
    users.add(delivery.clerk_user_id);
    chunks[chunks.length - 1]?.push(delivery);
  }

  let done = 0;
  for (const chunk of chunks) {
    if (options.signal.aborted) {
      result.status = "interrupted";
      break;
    }
    try {
      await replayChunk({ db, directory }, chunk, options.dryRun, record);
    } catch (error) {
      if (!(error instanceof ClerkAbortedError)) throw error;
      result.status = "interrupted";
      break;
    }
    done += chunk.length;
    options.onProgress?.({ done, total: selected.length });
  }
  return result;
}

async function replayChunk(
  { db, directory }: { db: Db; directory: ClerkDirectory },
  chunk: Selected[],
  dryRun: boolean,
  record: (delivery: Selected, after: string) => void,
) {
  const ids = [...new Set(chunk.map((d) => d.clerk_user_id))];
  const tombstoned = new Set(
    (await withDeadline(DEADLINE_MS, () => runStatement<{ user_id: string }>(db, tombstonedStatement({ ids })))).map(
      (row) => row.user_id,
    ),
  );
  const live = ids.filter((id) => !tombstoned.has(id));
  const current = new Map<string, unknown>();
  for (const raw of live.length > 0 ? await directory.usersById(live) : []) {
    const id = (raw as { id?: unknown }).id;
    if (typeof id === "string") current.set(id, raw);
  }

  /** What each user comes to without writing: a final word, or the row to write. */
  const verdicts = new Map<string, { outcome: string; reason: string | null } | { row: UserRow }>();
  for (const id of ids) {
    if (tombstoned.has(id)) {
      verdicts.set(id, { outcome: "stale", reason: null });
      continue;
    }
    const raw = current.get(id);
    if (raw === undefined) {
      // Gone from Clerk, but no user.deleted applied here: left as it was (reason not_in_clerk); `npm run sync
      // -- --prune` removes such users, as a 404 must never erase anything on its own.
      verdicts.set(id, { outcome: "", reason: "not_in_clerk" });
      continue;
    }
    let user: ClerkUser;
    try {
      user = parseClerkUser(raw);
    } catch (error) {
      if (!(error instanceof InvalidPayloadError)) throw error;
      verdicts.set(id, { outcome: "failed", reason: "invalid_payload" });
      continue;
    }
    const email = usableEmail(user);
    verdicts.set(id, email ? { row: userRow(user, email) } : { outcome: "skipped", reason: "no_usable_email" });
  }

  const rows = [...verdicts.values()].flatMap((v) => ("row" in v ? [v.row] : []));
  const marks: { svixId: string; outcome: string; reason: string | null }[] = [];
  const finalWord = (delivery: Selected, verdict: { outcome: string; reason: string | null }) => {
    const outcome = verdict.outcome || delivery.outcome; // not_in_clerk keeps the outcome it had
    marks.push({ svixId: delivery.svix_id, outcome, reason: verdict.reason });
    return label(outcome, verdict.reason);
  };

  if (dryRun) {
    const wouldBe = new Map<string, string>();
    for (const row of rows) {
      const counts = await classifyUsers(db, [row]);
      const [outcome = "stale"] = Object.keys(counts);
      wouldBe.set(
        row.userId,
        outcome === "created" || outcome === "updated"
          ? "provisioned"
          : outcome.startsWith("failed:")
            ? outcome
            : "stale",
      );
    }
    for (const delivery of chunk) {
      const verdict = verdicts.get(delivery.clerk_user_id);
      if (!verdict) continue;
      record(
        delivery,
        "row" in verdict
          ? (wouldBe.get(delivery.clerk_user_id) ?? "stale")
          : label(verdict.outcome || delivery.outcome, verdict.reason),
      );
    }
    return;
  }

  const targets: ReplayTarget[] = chunk
    .filter((d) => "row" in (verdicts.get(d.clerk_user_id) ?? {}))
    .map((d) => ({ svixId: d.svix_id, userId: d.clerk_user_id }));
  const { outcomes, failures } = await replayUsers(db, rows, targets);
  const failed = new Map(failures.map((f) => [f.row.userId, f.reason]));
  const after = new Map<string, string>();
  for (const delivery of chunk) {
    const verdict = verdicts.get(delivery.clerk_user_id);
    if (!verdict) continue;
    if ("row" in verdict) {
      const reason = failed.get(delivery.clerk_user_id);
      if (reason !== undefined) after.set(delivery.svix_id, finalWord(delivery, { outcome: "failed", reason }));
      else {
        const outcome = outcomes.get(delivery.svix_id);
        // Not updated: another replay took it meanwhile.
        after.set(delivery.svix_id, outcome ?? "replayed elsewhere");
      }
    } else {
      after.set(delivery.svix_id, finalWord(delivery, verdict));
    }
  }
  const marked = await markReplayed(db, marks);
  for (const delivery of chunk) {
    const outcome = after.get(delivery.svix_id);
    if (outcome === undefined) continue;
    const wasMark = marks.some((m) => m.svixId === delivery.svix_id);
    record(delivery, wasMark && !marked.has(delivery.svix_id) ? "replayed elsewhere" : outcome);
  }
}
