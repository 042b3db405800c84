import { type CallPolicy, REQUEST } from "../../db/call.js";
import type { Db } from "../../db/types.js";
import type { RowResult } from "../../outcome.js";
import type { RowDelivery } from "../deliveries.js";
import type { Kind, RemoveResult } from "../engine/define-kind.js";
import { type BatchLimits, createLane, type Settled } from "./lane.js";
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

/**
 * Coalesced writes: deliveries of one verb of one kind that arrive while a statement of that verb runs wait for it
 * and go together in the next statement (lane.ts), each row with its own delivery record, dedupe, staleness and
 * answer (settle.ts). Works for every kind the engine made: it reads only what `Kind` exposes.
 */
export function createCoalescer(db: Db, options: CoalescerOptions = {}): EventWriter {
  const limits = options.limits ?? DEFAULT_BATCH_LIMITS;
  const lanes = new Map<string, (item: Carried<unknown>, bytes: number) => Promise<unknown>>();

  const laneOf = <Value, R>(
    name: string,
    verb: "write" | "remove",
    apply: (items: readonly Carried<Value>[]) => Promise<R[]>,
    duplicate: R,
  ) => {
    const key = `${name}:${verb}`;
    let lane = lanes.get(key);
    if (!lane) {
      const run = (items: readonly Carried<Value>[]): Promise<Settled<R>[]> => {
        options.observeBatch?.(name, verb, items.length);
        return settleBatch(items, apply, duplicate);
      };
      lane = createLane(run, limits) as (item: Carried<unknown>, bytes: number) => Promise<unknown>;
      lanes.set(key, lane);
    }
    return lane as (item: Carried<Value>, bytes: number) => Promise<R>;
  };

  return {
    write(kind, row, delivery) {
      const lane = laneOf(
        kind.name,
        "write",
        async (items: readonly Carried<typeof row>[]) => {
          const rows = items.map((item) => item.value);
          const written = await kind.write(db, rows, {
            deliveries: items.map((item) => item.delivery),
            policy: remainingPolicy(items),
          });
          return written.map((w) => w.result);
        },
        "duplicate" as RowResult,
      );
      const item = {
        value: row,
        delivery,
        deliveryId: delivery.deliveryId,
        keys: kind.keysOf(row),
        rank: kind.updatedAtOf(row),
      };
      return lane(item, JSON.stringify(row).length);
    },
    remove(kind, key, delivery) {
      const lane = laneOf(
        kind.name,
        "remove",
        async (items: readonly Carried<typeof key>[]) => {
          // One event type per kind's removal; the batch is recorded as received when its oldest delivery was.
          const stamp = {
            deliveryIds: items.map((item) => item.delivery.deliveryId),
            eventType: delivery.eventType,
            receivedAt: new Date(Math.min(...items.map((item) => item.delivery.receivedAt.getTime()))),
          };
          const removed = await kind.remove(
            db,
            items.map((item) => item.value),
            { stamp, policy: remainingPolicy(items) },
          );
          const byId = new Map(removed.map((r) => [r.id, r.result]));
          return items.map((item) => byId.get(kind.removedIdOf(item.value)) ?? "duplicate");
        },
        "duplicate" as RemoveResult,
      );
      const item = { value: key, delivery, deliveryId: delivery.deliveryId, keys: [kind.removedIdOf(key)], rank: 0 };
      return lane(item, JSON.stringify(key).length);
    },
  };
}
