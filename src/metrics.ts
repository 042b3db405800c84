import { Counter, Gauge, Histogram, Registry } from "prom-client";

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
  // postgres.js exposes no pool statistics: what can be measured is the database calls the deliveries have in
  // flight (each holds one connection while it runs) against the pool's size.
  new Gauge({
    name: "clerk_db_calls_in_flight",
    help: "Database calls of webhook deliveries running now (each holds one pool connection)",
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
    recordDelivery(type: string, outcome: string, ms: number | undefined) {
      deliveries.inc({ type, outcome });
      if (ms !== undefined) provisioningSeconds.observe({ type }, ms / 1000);
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
