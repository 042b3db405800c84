import { Hono } from "hono";
import { checkHealth } from "../db/health.js";
import type { Db } from "../db/types.js";

export function healthRoutes(db: Db) {
  return new Hono().get("/", async (c) => {
    const { checks, missingMigrations } = await checkHealth(db);
    const healthy = Object.values(checks).every(Boolean);
    const missing = missingMigrations?.length ? { missing_migrations: missingMigrations } : {};
    return c.json({ healthy, checks, ...missing, timestamp: new Date().toISOString() }, healthy ? 200 : 503);
  });
}
