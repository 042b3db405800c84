import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { checkHealth } from "../db/health.js";
import type { Db } from "../db/types.js";
import { json } from "./openapi.js";

const HealthSchema = z
  .object({
    healthy: z.boolean(),
    checks: z
      .object({
        connection: z.boolean(),
        users_table: z.boolean(),
        workspaces_table: z.boolean(),
        constraints: z.boolean().openapi({ description: "`unique_user_workspace` is in place" }),
        migrations: z.boolean().openapi({ description: "every migration the service needs is applied" }),
      })
      .openapi({ description: "Each probe's answer; any `false` makes the answer 503" }),
    missing_migrations: z
      .array(z.string())
      .optional()
      .openapi({ description: "The migrations not applied (`npm run db:migrate`), when there are any" }),
    timestamp: z.string().openapi({ format: "date-time", example: "2026-01-02T03:04:05.000Z" }),
  })
  .openapi("Health");

const getHealth = createRoute({
  method: "get",
  path: "/",
  operationId: "getHealth",
  summary: "Whether the database is reachable and has what the service needs",
  responses: {
    200: json(HealthSchema, "Healthy: every check is true"),
    503: json(HealthSchema, "Unhealthy: `healthy` and the failing checks are false"),
  },
});

export function healthRoutes(db: Db) {
  return new OpenAPIHono().openapi(getHealth, async (c) => {
    const { checks, missingMigrations } = await checkHealth(db);
    const healthy = Object.values(checks).every(Boolean);
    const missing = missingMigrations?.length ? { missing_migrations: missingMigrations } : {};
    const body = { healthy, checks, ...missing, timestamp: new Date().toISOString() };
    return healthy ? c.json(body, 200) : c.json(body, 503);
  });
}
