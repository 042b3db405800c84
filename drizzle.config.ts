import { defineConfig } from "drizzle-kit";

const databaseUrl = process.env.DATABASE_URL || undefined;

export default defineConfig({
  dialect: "postgresql",
  schema: "./src/db/schema.ts",
  out: "./migrations",
  ...(databaseUrl
    ? { dbCredentials: { url: databaseUrl } }
    : { driver: "pglite", dbCredentials: { url: process.env.PGLITE_DATA_DIR || ".data/pglite" } }),
});
