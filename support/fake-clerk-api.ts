import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { answerTeams } from "./fake-clerk-teams.js";

export const TEST_CLERK_SECRET_KEY = "sk_test_clerk_provisioner_tests";

/** A request as the fake saw it (for assertions and for `intercept`). */
export interface FakeRequest {
  method: string;
  /** Without the query string, e.g. `/v1/users`. */
  path: string;
  query: URLSearchParams;
  /** Milliseconds since the API started. */
  at: number;
  /** Answered 429 by `rateLimit`. */
  refused?: boolean;
}

/** An answer `intercept` plays instead of the API's. `hang`: never answered (until the server closes). */
export interface FakeResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  hang?: boolean;
}

export interface FakeClerkApi {
  /** The `apiUrl` to give `@clerk/backend` (`CLERK_API_URL`). */
  url: string;
  /** `UserJSON` by id: answered by `GET /v1/users/:id` and listed by `GET /v1/users`; a missing id is Clerk's 404. */
  users: Map<string, Record<string, unknown>>;
  /** `OrganizationJSON` by id: `GET /v1/organizations/:id` and the `GET /v1/organizations` listing. */
  organizations: Map<string, Record<string, unknown>>;
  /**
   * `OrganizationMembershipJSON` by membership id (each embeds its organization): `GET /v1/organizations/:id/memberships`
   * (`user_id` filters) and the instance listing `GET /v1/organization_memberships`.
   */
  memberships: Map<string, Record<string, unknown>>;
  /** Clerk Billing's `commerce_subscription_item` by id (with its `payer`): `GET /v1/billing/subscription_items`. */
  subscriptionItems: Map<string, Record<string, unknown>>;
  /**
   * `OrganizationInvitationJSON`, `RoleJSON` and `PermissionJSON` by id: the instance listings
   * (`/v1/organization_invitations`, `/v1/organization_roles`, `/v1/organization_permissions`), an organization's
   * invitations and a role or permission by id (fake-clerk-teams.ts).
   */
  invitations: Map<string, Record<string, unknown>>;
  roles: Map<string, Record<string, unknown>>;
  permissions: Map<string, Record<string, unknown>>;
  /** Organization ids looked up with `GET /v1/organizations/:id`, in order. */
  organizationLookups: string[];
  /** Runs when an organization lookup arrives, before it is answered. */
  onOrganizationLookup: ((organizationId: string) => Promise<void>) | undefined;
  /** User ids looked up with `GET /v1/users/:id`, in order. */
  lookups: string[];
  /** Runs when a lookup arrives, before it is answered (to interleave other work deterministically). */
  onLookup: ((userId: string) => Promise<void>) | undefined;
  /** Answers every request with this status instead (e.g. 500, to play an outage). */
  failWith: number | undefined;
  /** Every authenticated request, in arrival order. */
  requests: FakeRequest[];
  /**
   * Runs when any authenticated request arrives (after its latency), before it is answered, to interleave other
   * work: what it changes (a user deleted) is in this answer and not in those given before it.
   */
  beforeAnswer: ((request: FakeRequest) => Promise<void> | void) | undefined;
  /** Called for each authenticated request; an answer it returns replaces the API's (429s, 500s, hangs). */
  intercept: ((request: FakeRequest) => FakeResponse | undefined) | undefined;
  /** Milliseconds before each answer (Clerk's own latency); a function to vary it per request. */
  latencyMs: number | ((request: FakeRequest) => number);
  /** Clerk's rate limit: at most `requests` accepted per `windowMs` (sliding); beyond it, 429 with Retry-After. */
  rateLimit: { requests: number; windowMs: number } | undefined;
  /** Requests refused by `rateLimit`. */
  refused: number;
  /** Requests received and not yet answered; and the most there were at once. */
  inFlight: number;
  peakInFlight: number;
  /** Milliseconds since the API started, on the clock of `FakeRequest.at`. */
  now(): number;
  close(): Promise<void>;
}

/** `users` that knows when it changed, so that the sorted listing is rebuilt only then. */
class VersionedMap<K, V> extends Map<K, V> {
  version = 0;
  override set(key: K, value: V) {
    this.version++;
    return super.set(key, value);
  }
  override delete(key: K) {
    this.version++;
    return super.delete(key);
  }
  override clear() {
    this.version++;
    super.clear();
  }
}

const MAX_LIMIT = 500;

/**
 * The part of Clerk's Backend API the service and the operator tools use, on node:http on a free port:
 * `GET /v1/users/:id`, `GET /v1/users` (`limit` ≤ 500, `offset`, `order_by` ±created_at or ±updated_at, `user_id` filters; a JSON
 * array of `UserJSON`, as Clerk answers) and `GET /v1/users/count` (`{object: "total_count", total_count}`); the
 * organization routes below (paginated as `{data, total_count}`).
 * Requests without `Bearer TEST_CLERK_SECRET_KEY` get Clerk's 401. `latencyMs` delays every answer; `rateLimit`
 * refuses requests beyond it with Clerk's 429 and a `Retry-After` (counted in `refused`). `cacheJson` keeps each user's serialized JSON
 * (for the benchmark: users must then be replaced, not mutated).
 */
export async function startFakeClerkApi(options: { cacheJson?: boolean } = {}): Promise<FakeClerkApi> {
  const users = new VersionedMap<string, Record<string, unknown>>();
  const started = performance.now();
  const api: FakeClerkApi = {
    url: "",
    users,
    organizations: new VersionedMap(),
    memberships: new VersionedMap(),
    subscriptionItems: new VersionedMap(),
    invitations: new VersionedMap(),
    roles: new VersionedMap(),
    permissions: new VersionedMap(),
    organizationLookups: [],
    onOrganizationLookup: undefined,
    lookups: [],
    onLookup: undefined,
    failWith: undefined,
    requests: [],
    beforeAnswer: undefined,
    intercept: undefined,
    latencyMs: 0,
    rateLimit: undefined,
    refused: 0,
    inFlight: 0,
    peakInFlight: 0,
    now: () => performance.now() - started,
    close: async () => {},
  };
  // Arrival times of the requests the rate limit accepted, oldest first (only the last window's are kept).
  const accepted: number[] = [];
  /** Undefined when the request is within the rate limit (and counts it); else the seconds to wait. */
  const overLimit = (at: number): number | undefined => {
    const limit = api.rateLimit;
    if (!limit) return undefined;
    while (accepted.length > 0 && (accepted[0] as number) <= at - limit.windowMs) accepted.shift();
    if (accepted.length < limit.requests) {
      accepted.push(at);
      return undefined;
    }
    return Math.max(1, Math.ceil(((accepted[0] as number) + limit.windowMs - at) / 1000));
  };
  const json = new WeakMap<object, string>();
  const serialize = (user: Record<string, unknown>) => {
    if (!options.cacheJson) return JSON.stringify(user);
    let text = json.get(user);
    if (text === undefined) {
      text = JSON.stringify(user);
      json.set(user, text);
    }
    return text;
  };
  const byCreation = sortedListing(users, "created_at");
  const byUpdate = sortedListing(users, "updated_at");

  const listings = {
    organizations: sortedListing(api.organizations, "created_at"),
    memberships: sortedListing(api.memberships, "created_at"),
    subscriptionItems: sortedListing(api.subscriptionItems, "created_at"),
    invitations: sortedListing(api.invitations, "created_at"),
    roles: sortedListing(api.roles, "created_at"),
    permissions: sortedListing(api.permissions, "created_at"),
  };
  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    // @clerk/backend parses JSON only when the content type is exactly application/json, as Clerk sends it.
    res
      .writeHead(status, { "content-type": "application/json", ...headers })
      .end(typeof body === "string" ? body : JSON.stringify(body));
  };
  const clerkError = (code: string, message: string) => ({
    errors: [{ code, message, long_message: message }],
    clerk_trace_id: randomBytes(8).toString("hex"),
  });

  const filtered = (query: URLSearchParams) => {
    const ids = query.getAll("user_id");
    const order = query.get("order_by") ?? "-created_at";
    const all = order.endsWith("updated_at") ? byUpdate() : byCreation();
    const matching = ids.length > 0 ? all.filter((user) => ids.includes(String(user.id))) : all;
    return order.startsWith("+") ? matching : [...matching].reverse();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.headers.authorization !== `Bearer ${TEST_CLERK_SECRET_KEY}`) {
      return send(res, 401, clerkError("authentication_invalid", "invalid secret key"));
    }
    const url = new URL(req.url ?? "/", "http://fake");
    const request: FakeRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: url.searchParams,
      at: performance.now() - started,
    };
    api.requests.push(request);
    const retryAfter = overLimit(request.at); // counted on arrival, as Clerk counts
    const latency = typeof api.latencyMs === "function" ? api.latencyMs(request) : api.latencyMs;
    if (latency > 0) await new Promise((resolve) => setTimeout(resolve, latency));
    if (retryAfter !== undefined) {
      api.refused++;
      request.refused = true;
      return send(res, 429, clerkError("too_many_requests", "Too many requests"), {
        "retry-after": String(retryAfter),
      });
    }
    await api.beforeAnswer?.(request);
    const scripted = api.intercept?.(request);
    if (scripted?.hang) return;
    if (scripted)
      return send(res, scripted.status, scripted.body ?? clerkError("scripted", "scripted"), scripted.headers);
    if (api.failWith) return send(res, api.failWith, clerkError("internal_clerk_error", "something went wrong"));
    if (request.method !== "GET") return send(res, 404, clerkError("resource_not_found", "no route"));

    const organizationAnswer =
      (await answerOrganizations(api, request, listings)) ?? answerTeams(api, request, listings);
    if (organizationAnswer) {
      const { status, body } = organizationAnswer;
      if (status !== 200 || !("data" in body)) return send(res, status, body);
      const data = (body.data as Record<string, unknown>[]).map(serialize).join(",");
      return send(res, status, `{"data":[${data}],"total_count":${body.total_count}}`);
    }
    if (request.path === "/v1/users/count") {
      return send(res, 200, { object: "total_count", total_count: filtered(url.searchParams).length });
    }
    if (request.path === "/v1/users") {
      const limit = Number(url.searchParams.get("limit") ?? "10");
      const offset = Number(url.searchParams.get("offset") ?? "0");
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT || !Number.isInteger(offset) || offset < 0) {
        return send(res, 422, clerkError("form_param_value_invalid", "limit must be 1–500, offset at least 0"));
      }
      const page = filtered(url.searchParams).slice(offset, offset + limit);
      return send(res, 200, `[${page.map(serialize).join(",")}]`);
    }
    const match = /^\/v1\/users\/([^/]+)$/.exec(request.path);
    if (!match?.[1]) return send(res, 404, clerkError("resource_not_found", "no route"));
    const userId = decodeURIComponent(match[1]);
    api.lookups.push(userId);
    await api.onLookup?.(userId);
    const user = users.get(userId);
    if (!user) return send(res, 404, clerkError("resource_not_found", "Resource not found"));
    return send(res, 200, serialize(user));
  };
  const server = createServer((req, res) => {
    api.inFlight++;
    api.peakInFlight = Math.max(api.peakInFlight, api.inFlight);
    res.once("close", () => api.inFlight--);
    handle(req, res).catch(() => send(res, 500, clerkError("test_server", "fake Clerk API failed")));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  api.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  api.close = () =>
    new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((error) => (error ? reject(error) : resolve()));
    });
  return api;
}

/** Sorted by `field` (then id), rebuilt only when the map changed (a 100,000-row listing is read page by page). */
function sortedListing(map: Map<string, Record<string, unknown>>, field: "created_at" | "updated_at") {
  let sorted: { version: number; list: Record<string, unknown>[] } | undefined;
  return () => {
    const version = (map as VersionedMap<string, Record<string, unknown>>).version ?? -1;
    if (sorted === undefined || version === -1 || sorted.version !== version) {
      const list = [...map.values()].sort(
        (a, b) =>
          Number(a[field] ?? 0) - Number(b[field] ?? 0) ||
          (String(a.id) < String(b.id) ? -1 : String(a.id) > String(b.id) ? 1 : 0),
      );
      sorted = { version, list };
    }
    return sorted.list;
  };
}

export type Listings = Record<
  "organizations" | "memberships" | "subscriptionItems" | "invitations" | "roles" | "permissions",
  () => Record<string, unknown>[]
>;
export type Answer = { status: number; body: Record<string, unknown> };

/** Clerk's paginated answer `{data, total_count}` (newest first unless `order_by=+created_at`), or a 422 for a limit outside 1–500. */
export function paginated(ascending: Record<string, unknown>[], query: URLSearchParams): Answer {
  const limit = Number(query.get("limit") ?? "10");
  const offset = Number(query.get("offset") ?? "0");
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT || !Number.isInteger(offset) || offset < 0) {
    return { status: 422, body: { errors: [{ code: "form_param_value_invalid", message: "limit must be 1–500" }] } };
  }
  const total = ascending.length;
  const page =
    query.get("order_by") === "+created_at"
      ? ascending.slice(offset, offset + limit)
      : ascending.slice(Math.max(0, total - offset - limit), Math.max(0, total - offset)).reverse();
  return { status: 200, body: { data: page, total_count: total } };
}

export const notFound = {
  status: 404,
  body: { errors: [{ code: "resource_not_found", message: "Resource not found" }] },
};
/** Clerk Billing's instance-wide listing, newest first; the default plans' items only with `include_free=true`. */
function billingItems(items: Record<string, unknown>[], query: URLSearchParams): Answer {
  const free = (item: Record<string, unknown>) => (item.plan as { amount?: unknown } | null)?.amount === 0;
  return paginated(query.get("include_free") === "true" ? items : items.filter((item) => !free(item)), query);
}

/**
 * The organization routes; undefined for any other path: `GET /v1/organizations` (`organization_id` filters),
 * `GET /v1/organization_memberships` (the instance's), `GET /v1/organizations/:id/memberships` (`user_id` filters)
 * and `GET /v1/organizations/:id`.
 */
async function answerOrganizations(
  api: FakeClerkApi,
  request: FakeRequest,
  listings: Listings,
): Promise<Answer | undefined> {
  const { path, query } = request;
  if (path === "/v1/organizations") {
    const ids = query.getAll("organization_id");
    const all = listings.organizations();
    return paginated(ids.length > 0 ? all.filter((o) => ids.includes(String(o.id))) : all, query);
  }
  if (path === "/v1/organization_memberships") return paginated(listings.memberships(), query);
  if (path === "/v1/billing/subscription_items") return billingItems(listings.subscriptionItems(), query);
  const members = /^\/v1\/organizations\/([^/]+)\/memberships$/.exec(path);
  if (members?.[1]) {
    const organizationId = decodeURIComponent(members[1]);
    if (!api.organizations.has(organizationId)) return notFound;
    const userIds = query.getAll("user_id");
    const list = listings
      .memberships()
      .filter(
        (m) =>
          (m.organization as { id?: unknown }).id === organizationId &&
          (userIds.length === 0 || userIds.includes(String((m.public_user_data as { user_id?: unknown }).user_id))),
      );
    return paginated(list, query);
  }
  const one = /^\/v1\/organizations\/([^/]+)$/.exec(path);
  if (!one?.[1]) return undefined;
  const organizationId = decodeURIComponent(one[1]);
  api.organizationLookups.push(organizationId);
  await api.onOrganizationLookup?.(organizationId);
  const organization = api.organizations.get(organizationId);
  return organization ? { status: 200, body: organization } : notFound;
}
