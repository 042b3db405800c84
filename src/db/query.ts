import { Placeholder, type SQL, sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import { type CallPolicy, callDatabase, REQUEST, type RetryWhen } from "./call.js";
import type { Db, Tx } from "./types.js";

/** Rows of a raw query, whichever driver ran it (postgres.js answers an array, PGlite `{ rows }`). */
export async function queryRows<T>(db: Db | Tx, query: SQL): Promise<T[]> {
  const result: unknown = await db.execute(query);
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

/** A statement's constant text and one call's parameters. */
export interface BoundStatement {
  text: string;
  params: unknown[];
}

const dialect = new PgDialect();

/**
 * Renders a statement once, with named placeholders for everything that varies per call; the result binds values
 * to it without building or rendering SQL again. One text per statement is what lets the server prepare it once
 * per connection and only Bind/Execute afterwards.
 */
export function defineStatement<Values extends object>(
  build: (values: { readonly [K in keyof Values & string]: Placeholder<K> }) => SQL,
): (values: Values) => BoundStatement {
  const placeholders = new Proxy({} as { readonly [K in keyof Values & string]: Placeholder<K> }, {
    get: (_, name) => sql.placeholder(String(name)),
  });
  const { sql: text, params } = dialect.sqlToQuery(build(placeholders));
  const slots = params.map((param) => (param instanceof Placeholder ? (param.name as keyof Values) : undefined));
  if (slots.some((slot) => slot === undefined)) throw new Error(`defineStatement: a value is not a placeholder`);
  const names = slots as (keyof Values)[];
  return (values) => ({ text, params: names.map((name) => values[name]) });
}

type PostgresJsClient = {
  unsafe(text: string, params: unknown[], options?: { prepare: boolean }): Promise<unknown[]>;
  begin<T>(run: (tx: PostgresJsClient) => Promise<T>): Promise<T>;
  reserve(): Promise<PostgresJsClient & { release(): void }>;
};
type PgliteClient = {
  query(text: string, params: unknown[]): Promise<{ rows: unknown[] }>;
  transaction<T>(run: (tx: PgliteClient) => Promise<T>): Promise<T>;
};
/** `limits`: what each of its transactions sets first, when `limitEachTransaction` gave it some. */
type Client =
  | { kind: "postgres"; client: PostgresJsClient; limits?: string | undefined }
  | { kind: "pglite"; client: PgliteClient };

const TRANSACTION_LIMITS = new WeakMap<object, string>();

/**
 * For a postgres.js client behind a transaction pooler, which refuses or drops the session settings sent at connect
 * (and the role may have none): every statement of the service then runs in a transaction that first sets the limits
 * it needs, `SET LOCAL`. A row lock held elsewhere then fails the statement after `statementTimeoutMs` (55P03: a 503,
 * retried by Svix) instead of holding a pool connection until the lock goes.
 */
export function limitEachTransaction(client: object, statementTimeoutMs: number): void {
  if (!Number.isSafeInteger(statementTimeoutMs) || statementTimeoutMs <= 0) throw new RangeError("statementTimeoutMs");
  const ms = statementTimeoutMs;
  // One simple query, one round trip (SET takes no parameters; a bound set_config() would cost a Describe too).
  TRANSACTION_LIMITS.set(
    client,
    `SET LOCAL statement_timeout = ${ms}; SET LOCAL lock_timeout = ${ms}; SET LOCAL idle_in_transaction_session_timeout = ${2 * ms}`,
  );
}

/** The driver under `db`: postgres.js (a pool) or PGlite. */
export function clientOf(db: Db): Client {
  const client = (db as unknown as { $client: unknown }).$client;
  if (typeof client === "function" && "unsafe" in client) {
    return { kind: "postgres", client: client as unknown as PostgresJsClient, limits: TRANSACTION_LIMITS.get(client) };
  }
  if (typeof client === "object" && client !== null && "query" in client) {
    return { kind: "pglite", client: client as PgliteClient };
  }
  throw new Error("unknown database client");
}

/** Runs one statement per `run` on a postgres.js or PGlite client (or one of their transactions). */
const runner =
  ({ kind, client }: Client) =>
  async <T>({ text, params }: BoundStatement): Promise<T[]> =>
    kind === "postgres"
      ? // A named prepared statement: parsed and planned once per connection, then one Bind/Execute round trip.
        // (Unprepared, postgres.js first asks the server to Describe the parameters: a second round trip.) A client
        // opened with `prepare: false` (transaction pooler, see `isTransactionPooler`) overrides this `true`.
        ((await client.unsafe(text, params, { prepare: true })) as T[])
      : ((await client.query(text, params)).rows as T[]);

/** Runs one prepared statement; inside `runTransaction`, on its connection. */
export type RunStatement = <T>(statement: BoundStatement) => Promise<T[]>;

/**
 * The rows of one statement, run as a prepared statement on the connection pool, under `policy`; a statement that
 * depends on the attempt is bound anew for each (see `retryWhen`).
 */
export function runStatement<T>(
  db: Db,
  statement: BoundStatement | ((attempt: number) => BoundStatement),
  policy: CallPolicy = REQUEST,
  retryWhen?: RetryWhen,
): Promise<T[]> {
  const client = clientOf(db);
  // Behind a transaction pooler one statement too is a transaction of its own: the limits are set in it.
  const run: RunStatement =
    client.kind === "postgres" && client.limits
      ? <U>(bound: BoundStatement) => inTransaction(client, (tx) => tx<U>(bound))
      : runner(client);
  return callDatabase(
    policy,
    (attempt) => run<T>(typeof statement === "function" ? statement(attempt) : statement),
    retryWhen,
  );
}

/** Several prepared statements in one transaction (retried whole under `policy`): `work` gets the runner. */
export function runTransaction<T>(
  db: Db,
  work: (run: RunStatement) => Promise<T>,
  policy: CallPolicy = REQUEST,
  retryWhen?: RetryWhen,
): Promise<T> {
  const client = clientOf(db);
  return callDatabase(policy, () => inTransaction(client, work), retryWhen);
}

function inTransaction<T>(client: Client, work: (run: RunStatement) => Promise<T>): Promise<T> {
  if (client.kind === "pglite") return client.client.transaction((tx) => work(runner({ kind: "pglite", client: tx })));
  const { limits } = client;
  return client.client.begin(async (tx) => {
    if (limits) await tx.unsafe(limits, []);
    return work(runner({ kind: "postgres", client: tx }));
  });
}
