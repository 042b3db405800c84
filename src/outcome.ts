/**
 * What a delivery came to: the one vocabulary of the webhook's answers, the log lines, the metrics, the delivery
 * records (`clerk_deliveries.outcome`, held to STORED_OUTCOMES by a CHECK constraint), `sync` and `replay`.
 */
export const STORED_OUTCOMES = ["provisioned", "stale", "deleted", "skipped", "ignored", "failed"] as const;
export type StoredOutcome = (typeof STORED_OUTCOMES)[number];

/** `duplicate`: this delivery id was recorded before; nothing was done again (and nothing is stored). */
export type Outcome = StoredOutcome | "duplicate";

/** Deliveries refused before or while applying them (answered 4xx/5xx, nothing stored). */
export type RejectedOutcome = "invalid" | "conflict" | "unavailable" | "aborted" | "failed";

/**
 * What one row of a write came to (any kind): `created` / `updated` (provisioned); `unchanged` (this very version
 * is stored), `stored_newer` (a newer one is), `deleted` (tombstoned: never resurrected) — all three stale; or
 * `duplicate`.
 */
export type RowResult = "created" | "updated" | "unchanged" | "stored_newer" | "deleted" | "duplicate";

export function outcomeOf(result: RowResult): Outcome {
  if (result === "created" || result === "updated") return "provisioned";
  return result === "duplicate" ? "duplicate" : "stale";
}

/** A sync's figures by outcome: `created`, `updated`, `unchanged`, `skipped:<reason>`, `failed:<reason>`, `pruned`. */
export type Counts = Record<string, number>;

/** How a write's result is counted in a run (the keys `npm run sync` has always reported). */
export const COUNT_KEY: Record<Exclude<RowResult, "duplicate">, string> = {
  created: "created",
  updated: "updated",
  unchanged: "unchanged",
  stored_newer: "skipped:stored_newer",
  deleted: "skipped:deleted",
};

export const addInto = (into: Counts, outcome: string, n = 1) => {
  into[outcome] = (into[outcome] ?? 0) + n;
};
