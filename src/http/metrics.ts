import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { checkHealth } from "../db/health.js";
import type { Db } from "../db/types.js";
import type { Metrics } from "../metrics.js";

const getMetrics = createRoute({
  method: "get",
  path: "/",
  operationId: "getMetrics",
  summary: "Prometheus metrics",
  description:
    "`clerk_deliveries_total{type,outcome}`, `clerk_provisioning_duration_seconds{type}` (a histogram), " +
    "`clerk_write_batch_size{kind,verb}` (a histogram), `clerk_db_calls_in_flight`, `clerk_db_pool_max`, " +
    "`clerk_database_up` (GET /health's checks, probed at the scrape), the scheduled reconcile's `clerk_sync_*` and " +
    "prom-client's default `process_*` / `nodejs_*` metrics. Label values come from fixed sets, whatever is sent.",
  responses: {
    200: {
      description: "The Prometheus text exposition format",
      content: { "text/plain; version=0.0.4": { schema: z.string() } },
    },
  },
});

export function metricsRoutes(metrics: Metrics, db: Db) {
  return new OpenAPIHono().openapi(getMetrics, async (c) => {
    const { checks } = await checkHealth(db);
    metrics.databaseHealthy(Object.values(checks).every(Boolean));
    return c.text(await metrics.registry.metrics(), 200, { "content-type": metrics.registry.contentType });
  });
}
