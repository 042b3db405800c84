import { type CallPolicy, REQUEST } from "../../db/call.js";
import type { Db } from "../../db/types.js";
import type { RowResult } from "../../outcome.js";
import type { RowDelivery } from "../deliveries.js";
import type { Kind, RemoveResult } from "../engine/define-kind.js";
import { type BatchLimits, createLane } from "./lane.js";
import { type BatchItem, settleBatch } from "./settle.js";

/** How a verified delivery reaches its kind's verb: one row, one delivery, one answer. */
export interface EventWriter {
  write<Row, Key>(kind: Kind<Row, Key>, row: Row, delivery: RowDelivery): Promise<RowResult>;
  remove<Row, Key>(kind: Kind<Row, Key>, key: Key, delivery: RowDelivery): Promise<RemoveResult>;
}

/** Each delivery in a statement of its own (a batch of one): scripts, tests, and the benchmark's comparison. */
export const directWriter = (db: Db): EventWriter => ({
  async write(kind, row, delivery) {
    return (await kind.write(db, [row], { deliveries: [delivery] }))[0]?.result ?? "duplicate";
  },
  async remove(kind, key, delivery) {
    const stamp = {
      deliveryIds: [delivery.deliveryId],
      eventType: delivery.eventType,
      receivedAt: delivery.receivedAt,
    };
    return (await kind.remove(db, [key], { stamp }))[0]?.result ?? "duplicate";
  },
});

export const DEFAULT_BATCH_LIMITS: BatchLimits = { maxItems: 100, maxBytes: 256 * 1024 };

export interface CoalescerOptions {
  limits?: BatchLimits;
  /** Each batch's size, as it starts (the metric). */
  observeBatch?: (kind: string, verb: "write" | "remove", size: number) => void;
}

interface Carried<Value> extends BatchItem {
  value: Value;
  delivery: RowDelivery;
}

/**
 * The request's deadline (REQUEST), counted from the moment the oldest delivery of the batch was received: time
 * spent waiting for the batch before is time Svix has been waiting too.
 */
function remainingPolicy(items: readonly Carried<unknown>[]): CallPolicy {
  const oldest = Math.min(...items.map((item) => item.delivery.receivedAt.getTime()));
  return { ...REQUEST, deadlineMs: Math.max(1, REQUEST.deadlineMs - (Date.now() - oldest)) };
}

/** A kind's rows, each with its delivery, in one write: each row's result, in order. */
const writeRows =
  <Row, Key>(db: Db, kind: Kind<Row, Key>) =>
  async (items: readonly Carried<Row>[]): Promise<RowResult[]> => {
    const deliveries = items.map((item) => item.delivery);
    const rows = items.map((item) => item.value);
    return (await kind.write(db, rows, { deliveries, policy: remainingPolicy(items) })).map((w) => w.result);
  };

/**
 * A kind's removals, each with its delivery, in one removal: each row's result, in order. One event type per kind's
 * removal; the batch is recorded as received when its oldest delivery was.
 */
const removeKeys =
  <Row, Key>(db: Db, kind: Kind<Row, Key>) =>
  async (items: readonly Carried<Key>[]): Promise<RemoveResult[]> => {
    const stamp = {
      deliveryIds: items.map((item) => item.delivery.deliveryId),
      eventType: items[0]?.delivery.eventType ?? "",
      receivedAt: new Date(Math.min(...items.map((item) => item.delivery.receivedAt.getTime()))),
    };
    const keys = items.map((item) => item.value);
    const removed = await kind.remove(db, keys, { stamp, policy: remainingPolicy(items) });
    const results = new Map(removed.map((row) => [row.id, row.result]));
    return keys.map((key) => results.get(kind.removedIdOf(key)) ?? "duplicate");
  };

type Submit<Value, R> = (item: Carried<Value>, bytes: number) => Promise<R>;

/**
 * Coalesced writes: deliveries of one verb of one kind that arrive while a statement of that verb runs wait for it
 * and go together in the next statement (lane.ts), each row with its own delivery record, dedupe, staleness and
 * answer (settle.ts). Works for every kind the engine made: it reads only what `Kind` exposes.
 */
export function createCoalescer(db: Db, options: CoalescerOptions = {}): EventWriter {
  const limits = options.limits ?? DEFAULT_BATCH_LIMITS;
  const lanes = new Map<string, Submit<unknown, unknown>>();

  /** The lane of `verb` on kind `name`, made on first use from `apply` (called once). */
  const laneOf = <Value, R>(
    name: string,
    verb: "write" | "remove",
    apply: () => (items: readonly Carried<Value>[]) => Promise<R[]>,
    duplicate: R,
  ): Submit<Value, R> => {
    const key = `${name}:${verb}`;
    const existing = lanes.get(key);
    if (existing) return existing as Submit<Value, R>;
    const applyBatch = apply();
    const lane = createLane((items: readonly Carried<Value>[]) => {
      options.observeBatch?.(name, verb, items.length);
      return settleBatch(items, applyBatch, duplicate);
    }, limits);
    lanes.set(key, lane as Submit<unknown, unknown>);
    return lane;
  };

  return {
    write(kind, row, delivery) {
      const lane = laneOf(kind.name, "write", () => writeRows(db, kind), "duplicate" as RowResult);
      const keys = kind.keysOf(row);
      const item = { value: row, delivery, deliveryId: delivery.deliveryId, keys, rank: kind.updatedAtOf(row) };
      return lane(item, JSON.stringify(row).length);
    },
    remove(kind, key, delivery) {
      const lane = laneOf(kind.name, "remove", () => removeKeys(db, kind), "duplicate" as RemoveResult);
      const item = { value: key, delivery, deliveryId: delivery.deliveryId, keys: [kind.removedIdOf(key)], rank: 0 };
      return lane(item, JSON.stringify(key).length);
    },
  };
}
