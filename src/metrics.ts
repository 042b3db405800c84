import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * Label values come from these fixed sets, whatever a (signed) delivery says: every distinct value is a series
 * kept for the life of the process and repeated in every scrape. `unknown`: the type was never read (unsigned,
 * not JSON); `other`: any type not listed.
 */
export const DELIVERY_TYPE_LABELS = [
  "user.created",
  "user.updated",
  "user.deleted",
  "organization.created",
  "organization.updated",
  "organization.deleted",
  "organizationMembership.created",
  "organizationMembership.updated",
  "organizationMembership.deleted",
  "subscription.created",
  "subscription.updated",
  "subscription.active",
  "subscription.pastDue",
  "subscriptionItem.created",
  "subscriptionItem.updated",
  "subscriptionItem.active",
  "subscriptionItem.canceled",
  "subscriptionItem.upcoming",
  "subscriptionItem.ended",
  "subscriptionItem.abandoned",
  "subscriptionItem.incomplete",
  "subscriptionItem.pastDue",
  "subscriptionItem.freeTrialEnding",
  "organizationInvitation.created",
  "organizationInvitation.accepted",
  "organizationInvitation.revoked",
  "role.created",
  "role.updated",
  "role.deleted",
  "permission.created",
  "permission.updated",
  "permission.deleted",
  "other",
  "unknown",
] as const;
export const DELIVERY_OUTCOME_LABELS = [
  "provisioned",
  "stale",
  "deleted",
  "skipped",
  "ignored",
  "duplicate",
  "invalid",
  "conflict",
  "unavailable",
  "failed",
  "aborted",
  "other",
] as const;
const TYPES = new Set<string>(DELIVERY_TYPE_LABELS);
const OUTCOMES = new Set<string>(DELIVERY_OUTCOME_LABELS);

/**
 * `clerk_sync_repaired_total`'s `kind`, by the sync kind's name (SYNC_KINDS): a fixed set, every value exported
 * from the start (at 0) so that an alert on its increase sees the first repair.
 */
const SYNC_KIND_LABELS: Record<string, string> = {
  users: "user",
  organizations: "organization",
  memberships: "membership",
  subscriptionItems: "subscription_item",
  invitations: "invitation",
  roles: "role",
  permissions: "permission",
};

/** The metric label of an event type: the type itself when it is one we act on, else `other` (`unknown` if unread). */
export const deliveryTypeLabel = (type: string | undefined) =>
  type === undefined ? "unknown" : TYPES.has(type) ? type : "other";

/**
 * Prometheus metrics, one registry per app. Recording is an in-memory increment: nothing on the hot path waits for
 * I/O; the text is rendered only when /metrics is scraped.
 */
export function createMetrics({ poolMax }: { poolMax: number }) {
  const registry = new Registry();
  const deliveries = new Counter({
    name: "clerk_deliveries_total",
    help: "Clerk webhook deliveries by event type and outcome",
    labelNames: ["type", "outcome"] as const,
    registers: [registry],
  });
  const provisioningSeconds = new Histogram({
    name: "clerk_provisioning_duration_seconds",
    help: "Time from request to answer for verified deliveries (provisioned or not), by event type",
    labelNames: ["type"] as const,
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const batchSize = new Histogram({
    name: "clerk_write_batch_size",
    help: "Deliveries sharing one coalesced batch (webhook and /v1/me writes), by kind and verb",
    labelNames: ["kind", "verb"] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 100],
    registers: [registry],
  });
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    sync: syncMetrics(registry),
    ...databaseMetrics(registry, poolMax),
    recordDelivery(eventType: string | undefined, outcome: string, ms: number | undefined) {
      const type = deliveryTypeLabel(eventType);
      deliveries.inc({ type, outcome: OUTCOMES.has(outcome) ? outcome : "other" });
      if (ms !== undefined) provisioningSeconds.observe({ type }, ms / 1000);
    },
    /** The size of a coalesced batch as it starts (`kind`: a KindName, `verb`: write or remove). */
    observeBatch(kind: string, verb: "write" | "remove", size: number) {
      batchSize.observe({ kind, verb }, size);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** The database's figures: deliveries waiting for it against the pool's size, and its health at each scrape. */
function databaseMetrics(registry: Registry, poolMax: number) {
  let databaseCallsInFlight = 0;
  // postgres.js exposes no pool statistics: what can be measured is the deliveries waiting for the database (a
  // coalesced batch of them holds one connection while it runs) against the pool's size.
  new Gauge({
    name: "clerk_db_calls_in_flight",
    help: "Webhook deliveries waiting for the database now (a coalesced batch of them holds one pool connection)",
    registers: [registry],
    collect() {
      this.set(databaseCallsInFlight);
    },
  });
  new Gauge({
    name: "clerk_db_pool_max",
    help: "The database pool's size (DATABASE_POOL_MAX; 1 for the embedded database)",
    registers: [registry],
    collect() {
      this.set(poolMax);
    },
  });
  const databaseUp = new Gauge({
    name: "clerk_database_up",
    help: "1 when the database passed GET /health's checks at this scrape (probed as it is scraped), else 0",
    registers: [registry],
  });
  return {
    /** The health probe's verdict, set by /metrics just before it renders. */
    databaseHealthy: (healthy: boolean) => databaseUp.set(healthy ? 1 : 0),
    /** Counts `call` as holding a pool connection while it runs (each delivery's statement uses one). */
    async trackDatabaseCall<T>(call: () => Promise<T>): Promise<T> {
      databaseCallsInFlight++;
      try {
        return await call();
      } finally {
        databaseCallsInFlight--;
      }
    },
  };
}

/** The scheduled reconcile's figures (sync/schedule.ts). */
function syncMetrics(registry: Registry) {
  const runs = new Counter({
    name: "clerk_sync_runs_total",
    help: "Scheduled reconcile runs by mode (incremental, full) and outcome (completed, interrupted, failed, skipped: another replica held the lock)",
    labelNames: ["mode", "outcome"] as const,
    registers: [registry],
  });
  const seconds = new Histogram({
    name: "clerk_sync_run_duration_seconds",
    help: "Duration of the scheduled reconcile runs this replica ran, by mode",
    labelNames: ["mode"] as const,
    buckets: [0.5, 1, 2.5, 5, 15, 30, 60, 120, 300, 900, 1800, 3600],
    registers: [registry],
  });
  const requests = new Counter({
    name: "clerk_sync_clerk_requests_total",
    help: "Clerk Backend API requests the scheduled reconcile sent (retries and refused ones included)",
    registers: [registry],
  });
  const repaired = new Counter({
    name: "clerk_sync_repaired_total",
    help: "Rows a scheduled reconcile had to create or change: deliveries that never arrived, by kind",
    labelNames: ["kind"] as const,
    registers: [registry],
  });
  for (const kind of Object.values(SYNC_KIND_LABELS)) repaired.inc({ kind }, 0);
  const lastSuccess = new Gauge({
    name: "clerk_sync_last_success_timestamp_seconds",
    help: "When the latest reconcile run recorded in the database completed (any replica, or npm run sync); 0: none yet",
    registers: [registry],
  });
  const interval = new Gauge({
    name: "clerk_sync_interval_seconds",
    help: "SYNC_INTERVAL_SECONDS as this replica runs it (0: the scheduled reconcile is off)",
    registers: [registry],
  });
  return {
    configured: (intervalMs: number) => interval.set(intervalMs / 1000),
    run: (mode: "incremental" | "full", outcome: string, ms: number | undefined) => {
      runs.inc({ mode, outcome });
      if (ms !== undefined) seconds.observe({ mode }, ms / 1000);
    },
    requestsSent: (n: number) => requests.inc(n),
    /** Adds `n` repaired rows of the sync kind `name`; a kind without a label is not counted. */
    repaired: (name: string, n: number) => {
      const kind = SYNC_KIND_LABELS[name];
      if (kind && n > 0) repaired.inc({ kind }, n);
    },
    lastSuccess: (at: Date) => lastSuccess.set(at.getTime() / 1000),
  };
}

export type SyncMetrics = Metrics["sync"];
