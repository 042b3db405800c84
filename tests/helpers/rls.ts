import type { Query } from "./database.js";
import type { Harness } from "./harness.js";

/** Runs `work` as `role` with these session claims, as PostgREST would (in a transaction of its own, committed unless it throws). */
export const asRole = <T>(
  h: Harness,
  role: "anon" | "authenticated",
  claims: Record<string, unknown> | null,
  work: (q: Query) => Promise<T>,
) =>
  h.database.transaction(async (query) => {
    await query("SELECT set_config('request.jwt.claims', $1, true)", [
      claims ? JSON.stringify({ role, ...claims }) : "",
    ]);
    await query(`SET LOCAL ROLE ${role}`);
    return work(query);
  });
