import { type Placeholder, sql } from "drizzle-orm";
import type { ClerkEvent, ClerkUser } from "../clerk/events.js";
import { classifyDbError, DatabaseUnavailableError, withDeadline } from "../db/errors.js";
import { type BoundStatement, defineStatement, runStatement, runTransaction } from "../db/query.js";
import { clerkDeliveries, clerkUserVersions, organizationMemberships, users } from "../db/schema.js";
import type { Db } from "../db/types.js";
import { applyOrganizationEvent } from "./organization-events.js";
import {
  bumpVersionOnConflict,
  ensureWorkspaces,
  suffixedUsername,
  takenByOther,
  tombstoneOnConflict,
  type UserRow,
  usableEmail,
  userAssignments,
  userInsertColumns,
  userRow,
} from "./provision-rules.js";

export { USABLE_EMAIL } from "./provision-rules.js";

export type Outcome = "provisioned" | "stale" | "deleted" | "skipped" | "ignored" | "duplicate";

export interface Delivery {
  svixId: string;
  receivedAt: Date;
  event: ClerkEvent;
}

export type ApplyEvent = (db: Db, delivery: Delivery) => Promise<Outcome>;

export class EmailConflictError extends Error {
  constructor() {
    super("the e-mail address is still held by another Clerk user; retry once its user.deleted has arrived");
    this.name = "EmailConflictError";
  }
}

const DEADLINE_MS = 10_000;
/** Retries after a username collision or a serialization failure; each retry spreads username picks wider. */
const MAX_ATTEMPTS = 8;

/**
 * Applies one verified Clerk delivery exactly once: each path is a single statement (or, for deletes, one
 * transaction), so the delivery's record and its effect commit together or not at all.
 */
export async function applyClerkEvent(db: Db, delivery: Delivery): Promise<Outcome> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await withDeadline(DEADLINE_MS, () => applyOnce(db, delivery, attempt));
    } catch (error) {
      const failure = classifyDbError(error);
      if (failure.kind === "unique_violation" && failure.constraint === "users_email_unique") {
        throw new EmailConflictError();
      }
      // A concurrent insert took the username we picked, or the database asked us to retry.
      const transient = failure.kind === "retryable" || failure.kind === "unique_violation";
      if (transient && attempt < MAX_ATTEMPTS) continue;
      if (failure.kind === "unavailable") throw new DatabaseUnavailableError(failure.code);
      if (transient) throw new DatabaseUnavailableError(`conflict_after_${MAX_ATTEMPTS}_attempts`);
      throw error;
    }
  }
}

function applyOnce(db: Db, { svixId, receivedAt, event }: Delivery, attempt: number): Promise<Outcome> {
  switch (event.type) {
    case "user.created":
    case "user.updated": {
      const email = usableEmail(event.user);
      return email
        ? provisionUser(db, { attempt, svixId, receivedAt, eventType: event.type, user: event.user, email })
        : recordDelivery(db, {
            svixId,
            receivedAt,
            eventType: event.type,
            userId: event.user.id,
            outcome: "skipped",
            reason: "no_usable_email",
          });
    }
    case "user.deleted":
      return deleteUser(db, { svixId, receivedAt, userId: event.userId });
    case "organization.created":
    case "organization.updated":
    case "organization.deleted":
    case "organizationMembership.created":
    case "organizationMembership.updated":
    case "organizationMembership.deleted":
      return applyOrganizationEvent(db, { svixId, receivedAt, event });
    case "ignored":
      return recordDelivery(db, {
        svixId,
        receivedAt,
        eventType: event.eventType,
        userId: null,
        outcome: "ignored",
        reason: null,
      });
  }
}

/** Rows of `clerk_deliveries` are never read here before writing: a conflict on `svix_id` is the duplicate check. */
const notYetDelivered = (svixId: Placeholder) =>
  sql`NOT EXISTS (SELECT 1 FROM ${clerkDeliveries} WHERE ${clerkDeliveries.svixId} = ${svixId}::text)`;

/**
 * One statement: bump the user's version unless a newer (or equal) one or a tombstone is stored, then upsert the
 * user, ensure the workspace, and record the delivery. The version row's lock serialises events of one user.
 * Rendered once: each delivery only binds its values (a prepared statement on PostgreSQL).
 */
const provisionStatement = (spreadUsernames: boolean) =>
  defineStatement<UserRow & { svixId: string; eventType: string; receivedAt: string; usernameSkip: number }>((v) => {
    const userId = sql`${v.userId}::text`;
    const base = sql`${v.username}::text`;
    // Suffixes are tried in generate_series order and LIMIT stops early. After a collision with a concurrent
    // insert, skipping a random number of free suffixes keeps racers for one name from colliding again.
    const freeUsername = sql`COALESCE(
    (SELECT ${base} WHERE NOT ${takenByOther(base, userId)}),
    (SELECT c.name FROM generate_series(2, 99999) n, LATERAL (SELECT ${suffixedUsername(base, sql`n`)} AS name) c
      WHERE NOT ${takenByOther(sql`c.name`, userId)} LIMIT 1 OFFSET ${spreadUsernames ? sql`${v.usernameSkip}::int` : sql`0`}))`;
    return sql`WITH version AS (
      INSERT INTO ${clerkUserVersions} (user_id, clerk_updated_at)
      SELECT ${userId}, ${v.updatedAt}::bigint WHERE ${notYetDelivered(v.svixId)}
      ${bumpVersionOnConflict}
      RETURNING user_id
    ), upserted AS (
      INSERT INTO ${userInsertColumns}
      SELECT version.user_id, ${v.email}::text, ${freeUsername}, ${v.firstName}::text, ${v.lastName}::text, ${v.imageUrl}::text
      FROM version
      ON CONFLICT (id) DO UPDATE SET
        ${userAssignments({
          email: sql`excluded.email`,
          username: {
            candidate: sql`excluded.username`,
            fromClerk: sql`${v.usernameFromClerk}::boolean`,
            forms: sql`${v.usernameForms}::text`,
          },
          firstName: sql`excluded.first_name`,
          lastName: sql`excluded.last_name`,
          imageUrl: sql`excluded.avatar_url`,
        })}
      RETURNING id
    ), workspace AS (
      ${ensureWorkspaces(sql`SELECT id FROM upserted`)}
    )
    INSERT INTO ${clerkDeliveries} (svix_id, event_type, clerk_user_id, outcome, received_at)
    SELECT ${v.svixId}::text, ${v.eventType}::text, ${v.userId}::text,
      CASE WHEN EXISTS (SELECT 1 FROM upserted) THEN 'provisioned' ELSE 'stale' END, ${v.receivedAt}::timestamptz
    ON CONFLICT (svix_id) DO NOTHING
    RETURNING outcome`;
  });

/**
 * The first attempt's statement has a literal `OFFSET 0`: with nothing left that the planner must guess, PostgreSQL
 * switches it to a generic plan after five executions and stops planning it per delivery (with `OFFSET $n`, the
 * guess of 10 % of 99,998 rows made the custom plan look cheaper forever, and planning cost more than executing).
 */
const provisionFirstAttempt = provisionStatement(false);
/** After a collision: skips a random number of free suffixes (rare; planned per call). */
const provisionRetry = provisionStatement(true);

export interface ProvisionInput {
  attempt: number;
  svixId: string;
  receivedAt: Date;
  eventType: string;
  user: ClerkUser;
  email: string;
}

/** The provisioning statement bound to one delivery (the benchmark's ceiling runs exactly this). */
export function provisionUserStatement(input: ProvisionInput): BoundStatement {
  return (input.attempt === 1 ? provisionFirstAttempt : provisionRetry)({
    svixId: input.svixId,
    eventType: input.eventType,
    receivedAt: input.receivedAt.toISOString(),
    ...userRow(input.user, input.email),
    usernameSkip: input.attempt === 1 ? 0 : Math.floor(Math.random() * 4 * input.attempt),
  });
}

async function provisionUser(db: Db, input: ProvisionInput): Promise<Outcome> {
  const rows = await runStatement<{ outcome: Outcome }>(db, provisionUserStatement(input));
  return rows[0]?.outcome ?? "duplicate";
}

const tombstoneStatement = defineStatement<{ svixId: string; userId: string; receivedAt: string }>(
  (v) => sql`WITH version AS (
    INSERT INTO ${clerkUserVersions} (user_id, clerk_updated_at, deleted_at)
    SELECT ${v.userId}::text, 0, now() WHERE ${notYetDelivered(v.svixId)}
    ${tombstoneOnConflict}
    RETURNING user_id
  )
  INSERT INTO ${clerkDeliveries} (svix_id, event_type, clerk_user_id, outcome, received_at)
  SELECT ${v.svixId}::text, 'user.deleted', ${v.userId}::text,
    CASE WHEN EXISTS (SELECT 1 FROM version) THEN 'deleted' ELSE 'stale' END, ${v.receivedAt}::timestamptz
  ON CONFLICT (svix_id) DO NOTHING
  RETURNING outcome`,
);

/** The user, its workspace (cascade) and its organization memberships (no foreign key: they may precede the user). */
const deleteStatement = defineStatement<{ userId: string }>(
  (v) => sql`WITH memberships AS (
    DELETE FROM ${organizationMemberships} WHERE ${organizationMemberships.userId} = ${v.userId}::text
  )
  DELETE FROM ${users} WHERE ${users.id} = ${v.userId}::text`,
);

/** The two statements of a `user.deleted` delivery, run in one transaction (exported for the benchmark). */
export function deleteUserStatements(input: { svixId: string; receivedAt: Date; userId: string }) {
  const { svixId, userId } = input;
  return {
    tombstone: tombstoneStatement({ svixId, userId, receivedAt: input.receivedAt.toISOString() }),
    remove: deleteStatement({ userId }),
  };
}

/**
 * Tombstones the id first (taking its version row lock), then deletes in a second statement, whose fresh snapshot
 * sees any user row committed by an event that held that lock before us.
 */
function deleteUser(db: Db, input: { svixId: string; receivedAt: Date; userId: string }): Promise<Outcome> {
  const { tombstone, remove } = deleteUserStatements(input);
  return runTransaction(db, async (run) => {
    const rows = await run<{ outcome: Outcome }>(tombstone);
    const outcome = rows[0]?.outcome ?? "duplicate";
    if (outcome === "deleted") await run(remove);
    return outcome;
  });
}

const recordStatement = defineStatement<{
  svixId: string;
  eventType: string;
  userId: string | null;
  outcome: Outcome;
  reason: string | null;
  receivedAt: string;
}>(
  (v) => sql`INSERT INTO ${clerkDeliveries} (svix_id, event_type, clerk_user_id, outcome, reason, received_at)
  VALUES (${v.svixId}::text, ${v.eventType}::text, ${v.userId}::text, ${v.outcome}::text, ${v.reason}::text,
    ${v.receivedAt}::timestamptz)
  ON CONFLICT (svix_id) DO NOTHING
  RETURNING outcome`,
);

async function recordDelivery(
  db: Db,
  input: {
    svixId: string;
    receivedAt: Date;
    eventType: string;
    userId: string | null;
    outcome: Outcome;
    reason: string | null;
  },
): Promise<Outcome> {
  const rows = await runStatement(db, recordStatement({ ...input, receivedAt: input.receivedAt.toISOString() }));
  return rows.length > 0 ? input.outcome : "duplicate";
}
