import { randomBytes } from "node:crypto";
import { fixture } from "./clerk.js";

const unique = () => randomBytes(8).toString("hex");
export const newSubscriptionItemId = () => `csub_item_${unique()}`;

/** One of Clerk's published billing payloads (tests/fixtures/clerk/billing/, from clerk/openapi-specs). */
export const billingFixture = (name: string) => fixture(`billing/${name}`);

/** Who pays: a user (Clerk sends `organization_id: ""`) or an organization. */
export type Payer = { userId: string } | { organizationId: string };

export interface ItemOptions {
  id?: string;
  payer?: Payer | null;
  plan?: string;
  status?: string;
  updatedAt?: number;
  periodStart?: number | null;
  periodEnd?: number | null;
  isFreeTrial?: boolean;
}

/** Clerk's `commerce_payer` of `payer`, on the OpenAPI example. */
export function clerkPayer(payer: Payer): Record<string, unknown> {
  const base = (billingFixture("openapi.subscriptionItem.active").data as { payer: Record<string, unknown> }).payer;
  return "userId" in payer
    ? { ...base, user_id: payer.userId, organization_id: "", organization_name: "" }
    : { ...base, user_id: `user_${unique()}`, organization_id: payer.organizationId, organization_name: "Acme" };
}

/** A subscription item as `subscriptionItem.*` carries it, on the OpenAPI example (`payer: null` as in `subscription.*`). */
export function clerkSubscriptionItem(options: ItemOptions = {}): Record<string, unknown> {
  const base = billingFixture("openapi.subscriptionItem.active").data as Record<string, unknown>;
  const plan = options.plan ?? "pro-plan";
  return {
    ...base,
    id: options.id ?? newSubscriptionItemId(),
    status: options.status ?? "active",
    is_free_trial: options.isFreeTrial ?? false,
    created_at: 1_700_000_000_000,
    updated_at: options.updatedAt ?? 1_700_000_000_000,
    period_start: options.periodStart === undefined ? 1_700_000_000_000 : options.periodStart,
    period_end: options.periodEnd === undefined ? null : options.periodEnd,
    plan_id: `cplan_${plan}`,
    plan: { ...(base.plan as Record<string, unknown>), id: `cplan_${plan}`, slug: plan },
    payer: options.payer ? clerkPayer(options.payer) : null,
  };
}

/** A `commerce_subscription` of `payer` with `items` (each with `payer: null`, as Clerk sends them there). */
export function clerkSubscription(payer: Payer, items: Record<string, unknown>[]): Record<string, unknown> {
  const base = billingFixture("openapi.subscription.created").data as Record<string, unknown>;
  return { ...base, payer: clerkPayer(payer), items: items.map((item) => ({ ...item, payer: null })) };
}
