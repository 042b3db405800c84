import { z } from "zod";
import { ServiceError } from "../errors.js";
import {
  clerkId,
  clerkTime,
  MAX_CLERK_ID_LENGTH,
  MAX_NAME_LENGTH,
  nullableText,
  parseOrThrow,
  storedText,
} from "./fields.js";

/**
 * Clerk Billing's webhook payloads and the Backend API's items (docs: ../shared/reference/clerk-billing.md):
 * lenient (unknown keys and statuses kept out of the way, both `commerce_subscription_item` and `subscription_item`
 * objects), strict only about what can never be applied (no plan slug, no payer, no `updated_at`).
 */

/** Clerk Billing's statuses are a few words (`past_due`); newer ones are stored as sent. */
const MAX_STATUS_LENGTH = 64;
/** At most this many items in one `subscription.*` event (a payer has a handful). */
export const MAX_SUBSCRIPTION_ITEMS = 100;

/** `organization_id` is `""` for a user payer in Clerk's own examples (null in the Backend API). */
const ClerkPayerSchema = z.object({
  user_id: nullableText(MAX_CLERK_ID_LENGTH),
  organization_id: nullableText(MAX_CLERK_ID_LENGTH),
});

/** Clerk Billing's `commerce_subscription_item` (`subscription_item` in Clerk's examples): the fields we store. */
const ClerkSubscriptionItemSchema = z.object({
  id: clerkId,
  status: storedText(MAX_STATUS_LENGTH).min(1),
  is_free_trial: z.boolean().nullable().optional(),
  created_at: clerkTime.nullable().optional(),
  updated_at: clerkTime,
  period_start: clerkTime.nullable().optional(),
  period_end: clerkTime.nullable().optional(),
  plan_id: nullableText(MAX_CLERK_ID_LENGTH),
  plan: z.object({ slug: storedText(MAX_NAME_LENGTH).min(1), id: nullableText(MAX_CLERK_ID_LENGTH) }),
  /** Null inside a `subscription.*` event: the subscription names the payer once. */
  payer: ClerkPayerSchema.nullable().optional(),
});

/** A `commerce_subscription` (`subscription.*`): its payer, and its items (each parsed on its own). */
const ClerkSubscriptionSchema = z.object({
  payer: ClerkPayerSchema.nullable().optional(),
  items: z.array(z.unknown()).max(MAX_SUBSCRIPTION_ITEMS, `must have at most ${MAX_SUBSCRIPTION_ITEMS} items`),
});

export type PayerType = "user" | "organization";

export interface ClerkSubscriptionItem {
  id: string;
  /** A user, or an organization: by a non-empty `payer.organization_id`. */
  payerType: PayerType;
  payerId: string;
  planSlug: string;
  planId: string | null;
  /** As Clerk sends it (`active`, `past_due`, `canceled`, `ended`, `upcoming`, … and any newer value). */
  status: string;
  isFreeTrial: boolean;
  /** Clerk's times, in ms; null when Clerk sends none (the default plan has no period end). */
  periodStart: number | null;
  periodEnd: number | null;
  createdAt: number;
  /** The version of this state. */
  updatedAt: number;
}

/** The payer (user or organization) and the items of a billing event, for logs. */
export function billingIds(items: readonly ClerkSubscriptionItem[]) {
  const [first] = items;
  const payer = first ? { [first.payerType === "user" ? "userId" : "organizationId"]: first.payerId } : {};
  return { ...payer, subscriptionItemIds: items.map((item) => item.id) };
}

/** A `subscriptionItem.*` (one item, its own payer) or `subscription.*` event (the payer once, its items). */
export type BillingEvent = { type: "billing"; eventType: string; items: ClerkSubscriptionItem[] };

export function billingEvent(type: string, data: unknown): BillingEvent | undefined {
  if (type.startsWith("subscriptionItem.")) {
    return { type: "billing", eventType: type, items: [parseClerkSubscriptionItem(data)] };
  }
  if (!type.startsWith("subscription.")) return undefined;
  const subscription = parseOrThrow(ClerkSubscriptionSchema, data, "data");
  const items = subscription.items.map((item, i) =>
    parseClerkSubscriptionItem(item, subscription.payer ?? undefined, `data.items.${i}`),
  );
  return { type: "billing", eventType: type, items };
}

type ClerkPayer = z.infer<typeof ClerkPayerSchema>;

/** The payer an item belongs to: its organization when `organization_id` is a non-empty string, else its user. */
function payerOf(payer: ClerkPayer | null | undefined): { payerType: PayerType; payerId: string } | undefined {
  if (payer?.organization_id) return { payerType: "organization", payerId: payer.organization_id };
  if (payer?.user_id) return { payerType: "user", payerId: payer.user_id };
  return undefined;
}

/**
 * A Clerk Billing subscription item (a `subscriptionItem.*` event's `data`, an item of a `subscription.*` event, or
 * an item of the Backend API's listing); `subscriptionPayer`: the enclosing subscription's, for an item without its
 * own. Throws `invalid_payload` naming the field.
 */
export function parseClerkSubscriptionItem(data: unknown, subscriptionPayer?: ClerkPayer, prefix = "data") {
  const item = parseOrThrow(ClerkSubscriptionItemSchema, data, prefix);
  const payer = payerOf(item.payer) ?? payerOf(subscriptionPayer);
  if (!payer) throw new ServiceError("invalid_payload", `${prefix}.payer: names neither a user nor an organization`);
  return {
    id: item.id,
    ...payer,
    planSlug: item.plan.slug,
    planId: item.plan_id ?? item.plan.id ?? null,
    status: item.status,
    isFreeTrial: item.is_free_trial ?? false,
    periodStart: item.period_start ?? null,
    periodEnd: item.period_end ?? null,
    createdAt: item.created_at ?? item.updated_at,
    updatedAt: item.updated_at,
  } satisfies ClerkSubscriptionItem;
}
