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
  new Gauge({
    name: "clerk_db_pool_connections",
    help: "Database pool: connections held by a delivery now, and the rest of the pool (idle or not yet opened)",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      const inUse = Math.min(databaseCallsInFlight, poolMax);
      this.set({ state: "in_use" }, inUse);
      this.set({ state: "idle" }, poolMax - inUse);
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
