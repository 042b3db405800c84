import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Config } from "./config.js";

/** Where the development secret lives: beside the embedded database (`.data/` by default). */
export function devSecretPath(config: Config): string {
  const dataDir = config.database.kind === "pglite" ? config.database.dataDir : ".data/pglite";
  return join(dirname(dataDir), "webhook-signing-secret");
}

/**
 * The configured secret, or (outside production only) a development secret made once and kept in a 0600 file.
 * Never logged.
 */
export function resolveWebhookSecret(config: Config): { secret: string; source: "env" | "dev-file"; path?: string } {
  if (config.webhookSigningSecret) return { secret: config.webhookSigningSecret, source: "env" };
  if (config.env === "production") throw new Error("CLERK_WEBHOOK_SIGNING_SECRET is required when NODE_ENV=production");
  const path = devSecretPath(config);
  try {
    return { secret: readFileSync(path, "utf8").trim(), source: "dev-file", path };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const secret = `whsec_${randomBytes(32).toString("base64")}`;
  mkdirSync(dirname(path), { recursive: true });
  // "wx": if another process made it first, fail rather than overwrite, then read theirs.
  try {
    writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: "wx" });
    return { secret, source: "dev-file", path };
  } catch {
    return { secret: readFileSync(path, "utf8").trim(), source: "dev-file", path };
  }
}
