import { ClerkAPIResponseError } from "@clerk/backend/errors";
import { clerkUnavailable } from "./retrying.js";

/**
 * `GET /v1/billing/subscription_items`, the Backend API's instance-wide listing of Clerk Billing's items (default
 * plans included: `include_free=true`), which `@clerk/backend` does not wrap. Its client cannot be asked for it
 * either: it turns a `commerce_subscription_item` into a `BillingSubscriptionItem` without the item's `payer`, which
 * is what an item is stored under. So it is fetched here as Clerk answers it, and Clerk's refusals are thrown as the
 * client throws them (`ClerkAPIResponseError`), so that the same retry rules (retrying.ts) apply.
 */

export interface SubscriptionItemPage {
  items: unknown[];
  totalCount: number;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null;

/** Clerk's error answer (`{errors: [{code, message}]}`) as the error `@clerk/backend` would throw for it. */
function refusal(response: Response, body: unknown) {
  const errors = isRecord(body) && Array.isArray(body.errors) ? body.errors.filter(isRecord) : [];
  const retryAfter = Number.parseInt(response.headers.get("retry-after") ?? "", 10);
  return new ClerkAPIResponseError(response.statusText || `status ${response.status}`, {
    data: errors.map((error) => ({ code: String(error.code ?? ""), message: String(error.message ?? "") })),
    status: response.status,
    ...(Number.isFinite(retryAfter) ? { retryAfter } : {}),
  });
}

/** One page of the listing (newest first, as Clerk orders it), `limit` from `offset`: one request. */
export async function fetchSubscriptionItems(
  options: { secretKey: string; apiUrl?: string | undefined },
  offset: number,
  limit: number,
): Promise<SubscriptionItemPage> {
  const url = new URL(
    `${(options.apiUrl ?? "https://api.clerk.com").replace(/\/+$/, "")}/v1/billing/subscription_items`,
  );
  url.search = new URLSearchParams({ limit: String(limit), offset: String(offset), include_free: "true" }).toString();
  let response: Response;
  let body: unknown;
  try {
    response = await fetch(url, { headers: { authorization: `Bearer ${options.secretKey}` } });
    body = await response.json().catch(() => undefined);
  } catch {
    throw clerkUnavailable("network error");
  }
  if (!response.ok) throw refusal(response, body);
  if (!isRecord(body) || !Array.isArray(body.data) || typeof body.total_count !== "number") {
    throw clerkUnavailable("an answer of /billing/subscription_items we cannot read");
  }
  return { items: body.data, totalCount: body.total_count };
}
