/** Clerk Billing events in the shape of Clerk's published examples (`updated_at`: now), for `npm run send-event`. */

/** Each item event's status (camelCase names, snake_case statuses, as Clerk sends them). */
const ITEM_STATUS = {
  "subscriptionItem.active": "active",
  "subscriptionItem.updated": "active",
  "subscriptionItem.canceled": "canceled",
  "subscriptionItem.upcoming": "upcoming",
  "subscriptionItem.ended": "ended",
  "subscriptionItem.abandoned": "abandoned",
  "subscriptionItem.incomplete": "incomplete",
  "subscriptionItem.pastDue": "past_due",
  "subscriptionItem.freeTrialEnding": "active",
} as const;
const SUBSCRIPTION_STATUS = {
  "subscription.created": "active",
  "subscription.updated": "active",
  "subscription.active": "active",
  "subscription.pastDue": "past_due",
} as const;

export const BILLING_TYPES = [...Object.keys(ITEM_STATUS), ...Object.keys(SUBSCRIPTION_STATUS)] as BillingSampleType[];
export type BillingSampleType = keyof typeof ITEM_STATUS | keyof typeof SUBSCRIPTION_STATUS;

export interface BillingSampleIds {
  /** The payer: the organization when given, else the user. */
  userId: string;
  organizationId: string | undefined;
  itemId: string;
  plan: string;
}

const MONTH = 30 * 86_400_000;

export function sampleBillingEvent(type: BillingSampleType, ids: BillingSampleIds) {
  const now = Date.now();
  const status = type in ITEM_STATUS ? ITEM_STATUS[type as keyof typeof ITEM_STATUS] : "active";
  const payer = {
    object: "commerce_payer",
    id: `cpayer_${ids.itemId.slice(-12)}`,
    user_id: ids.userId,
    first_name: "Example",
    last_name: "User",
    organization_id: ids.organizationId ?? "",
    organization_name: ids.organizationId ? "Example Team" : "",
    image_url: "https://img.clerk.com/xxxxxx",
  };
  const item = {
    object: "commerce_subscription_item",
    id: ids.itemId,
    status: type in SUBSCRIPTION_STATUS ? SUBSCRIPTION_STATUS[type as keyof typeof SUBSCRIPTION_STATUS] : status,
    is_free_trial: false,
    created_at: now,
    updated_at: now,
    period_start: now,
    period_end: status === "ended" ? now : now + MONTH,
    interval: "month",
    plan_id: `cplan_${ids.plan}`,
    plan: {
      id: `cplan_${ids.plan}`,
      slug: ids.plan,
      name: ids.plan,
      is_recurring: true,
      amount: 2000,
      currency: "USD",
    },
  };
  const data =
    type in ITEM_STATUS
      ? { ...item, payer, subscription_id: "csub_send_event" }
      : {
          object: "commerce_subscription",
          id: "csub_send_event",
          status: item.status,
          created_at: now,
          updated_at: now,
          payer,
          items: [{ ...item, payer: null, subscription_id: null }],
        };
  return {
    data,
    event_attributes: { http_request: { client_ip: "127.0.0.1", user_agent: "clerk-provisioner send-event" } },
    instance_id: "ins_send_event",
    object: "event",
    timestamp: now,
    type,
  };
}
