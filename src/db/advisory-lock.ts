import { sql } from "drizzle-orm";
import { ServiceError } from "../errors.js";
import { BACKGROUND, type CallPolicy, REQUEST } from "./call.js";
import { clientOf, defineStatement, runStatement } from "./query.js";
import type { Db } from "./types.js";

/** An advisory lock: `key` names it in the database, `label` in messages ("the sync lock"). */
export interface AdvisoryLock {
  key: string;
  label: string;
}

/** Resolves while the lock is still held; rejects with a `lock_lost` error once it is not. */
export type LockCheck = () => Promise<void>;

/** The backend holding the lock, told apart from a later one given the same pid by when it started. */
type Holder = { pid: number; started: string };

/**
 * Whether the holder still holds an advisory lock: asked on any connection of the pool, never on the lock's own
 * (once that connection has ended, postgres.js may have reconnected it for another caller).
 */
const heldStatement = defineStatement<Holder>(
  (v) => sql`SELECT EXISTS (
    SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.pid = ${v.pid}::int AND a.backend_start = ${v.started}::timestamptz
  ) AS held`,
);

/**
 * Runs `work` while holding the advisory lock: a transaction-level lock, in a transaction kept open on a connection
 * of its own for as long as `work` runs (a crashed holder releases it). A session-level lock would not hold behind a
 * transaction pooler, where each statement of a session may run on another server connection (and the lock then
 * stays on one nobody unlocks); an open transaction keeps its server connection. `acquired: false`, without running
 * `work`, when another session holds it. PGlite is one process's database: nobody to exclude.
 *
 * When that connection ends (a database restart, a failover, a pooler restart), the lock ends with it and another
 * process may take it. `work` gets a check to await before each step only the holder may take: it rejects with
 * `lock_lost` once the lock is gone.
 */
export async function withAdvisoryLock<T>(
  db: Db,
  lock: AdvisoryLock,
  work: (stillHeld: LockCheck) => Promise<T>,
): Promise<{ acquired: true; value: T } | { acquired: false }> {
  const client = clientOf(db);
  if (client.kind === "pglite") return { acquired: true, value: await work(async () => {}) };
  const session = await client.client.reserve();
  const held = async (holder: Holder, policy: CallPolicy) =>
    (await runStatement<{ held: boolean }>(db, heldStatement(holder), policy))[0]?.held ?? false;
  let holder: Holder | undefined;
  let lost = false;
  const stillHeld = async () => {
    if (lost || !holder || !(await held(holder, BACKGROUND))) {
      lost = true;
      throw lockLost(lock);
    }
  };
  try {
    await session.unsafe("BEGIN", []);
    // Idle in this transaction while `work` runs on other connections, for minutes: not a stuck session.
    await session.unsafe("SET LOCAL idle_in_transaction_session_timeout = 0", []);
    const [row] = (await session.unsafe(
      `SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked, pg_backend_pid() AS pid,
        (SELECT backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid()) AS started`,
      [lock.key],
    )) as ({ locked: boolean } & Holder)[];
    if (!row?.locked) return { acquired: false };
    holder = { pid: row.pid, started: row.started };
    return { acquired: true, value: await work(stillHeld) };
  } finally {
    // A connection that ended is the pool's again (and may already serve another caller): not ours to roll back.
    if (!lost && (!holder || (await held(holder, REQUEST).catch(() => false)))) {
      await session.unsafe("ROLLBACK", []).catch(() => {});
      session.release();
    }
  }
}

const lockLost = (lock: AdvisoryLock) =>
  new ServiceError(
    "lock_lost",
    `lost ${lock.label}: the database connection holding it ended (a restart, a failover or a pooler restart); ` +
      "another process may hold it now",
  );
