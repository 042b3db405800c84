import { Counter, Gauge, Histogram, Registry } from "prom-client";

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

/** The metric label of an event type: the type itself when it is one we act on, else `other` (`unknown` if unread). */
export const deliveryTypeLabel = (type: string | undefined) =>
  type === undefined ? "unknown" : TYPES.has(type) ? type : "other";

/**
 * Prometheus metrics, one registry per app. Recording is an in-memory increment: nothing on the hot path waits for
 * I/O; the text is rendered only when /metrics is scraped.
 */
export function createMetrics({ poolMax }: { poolMax: number }) {
  let databaseCallsInFlight = 0;
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
  return {
    registry,
    recordDelivery(eventType: string | undefined, outcome: string, ms: number | undefined) {
      const type = deliveryTypeLabel(eventType);
      deliveries.inc({ type, outcome: OUTCOMES.has(outcome) ? outcome : "other" });
      if (ms !== undefined) provisioningSeconds.observe({ type }, ms / 1000);
    },
    /** The size of a coalesced batch as it starts (`kind`: a KindName, `verb`: write or remove). */
    observeBatch(kind: string, verb: "write" | "remove", size: number) {
      batchSize.observe({ kind, verb }, size);
    },
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

export type Metrics = ReturnType<typeof createMetrics>;
