import { and, inArray, isNotNull } from "drizzle-orm";
import type { ClerkDirectory } from "../clerk/backend-api.js";
import { parseClerkUser } from "../clerk/events.js";
import { BACKGROUND, callDatabase } from "../db/call.js";
import { clerkUserVersions } from "../db/schema.js";
import type { Db } from "../db/types.js";
import { isServiceError } from "../errors.js";
import { classifyUsers } from "../provisioning/users/classify.js";
import { toUserRow, type UserRow } from "../provisioning/users/row.js";
import type { Selected } from "./selection.js";

/** What each selected delivery's user comes to, from its current state in Clerk; and, for `--dry-run`, the outcome. */

export const label = (outcome: string, reason: string | null) => (reason ? `${outcome}:${reason}` : outcome);

/** What a user comes to: a final word without writing (`keep`: its delivery keeps the outcome it had), or a row. */
export type Verdict = { outcome: string | "keep"; reason: string | null } | { row: UserRow };

export async function judge(db: Db, directory: ClerkDirectory, chunk: Selected[]): Promise<Map<string, Verdict>> {
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

export const finalOutcome = (delivery: Selected, verdict: { outcome: string; reason: string | null }) => ({
  outcome: verdict.outcome === "keep" ? delivery.outcome : verdict.outcome,
  reason: verdict.reason,
});

/** `--dry-run`: what each delivery would come to. */
export async function wouldBe(db: Db, chunk: Selected[], verdicts: Map<string, Verdict>): Promise<Map<string, string>> {
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
