/**
 * The workloads of `npm run bench:latency` (bench/latency.ts): each sends its deliveries through `deliver` (untimed
 * set-up) and `timed` (one delivery, its latency recorded), one at a time.
 */
import { sampleBillingEvent } from "../src/cli/sample-billing-events.js";
import { newClerkId, sampleOrganizationEvent } from "../src/cli/sample-organization-events.js";
import { sampleTeamEvent } from "../src/cli/sample-team-events.js";
import { userEvent } from "./workload.js";

export type Send = (body: string) => Promise<void>;

export interface WorkloadOptions {
  /** Memberships, payers or invitations. */
  count: number;
  /** Over how many organizations the memberships or invitations are spread. */
  organizations: number;
}

export interface Workload {
  /** `--count` when not given. */
  defaultCount: number;
  /** What the timed deliveries are, for the heading line. */
  describe(options: WorkloadOptions): string;
  run(deliver: Send, timed: Send, options: WorkloadOptions): Promise<void>;
}

/** The organizations' ids; every other one delivered as `organization.created`, the rest left to a snapshot. */
async function organizations(deliver: Send, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => newClerkId("org"));
  for (const [i, organizationId] of ids.entries()) {
    if (i % 2 === 0) continue; // the other half first arrives as a membership's or invitation's snapshot
    const org = { organizationId, userId: newClerkId("user"), membershipId: newClerkId("orgmem"), role: "org:admin" };
    await deliver(JSON.stringify(sampleOrganizationEvent("organization.created", org)));
  }
  return ids;
}

/** Each user.created before its membership; half the memberships arrive before their organization.created. */
const memberships: Workload = {
  defaultCount: 2000,
  describe: ({ count, organizations }) => `${count} organizationMembership.created over ${organizations} organizations`,
  async run(deliver, timed, options) {
    const orgs = await organizations(deliver, options.organizations);
    for (let i = 0; i < options.count; i++) {
      const userId = `user_${newClerkId("m").slice(2)}`;
      await deliver(userEvent("user.created", { userId, updatedAt: Date.now(), index: i }).body);
      const ids = {
        organizationId: orgs[i % orgs.length] as string,
        userId,
        membershipId: newClerkId("orgmem"),
        role: i % 10 === 0 ? "org:admin" : "org:member",
      };
      await timed(JSON.stringify(sampleOrganizationEvent("organizationMembership.created", ids)));
    }
  },
};

/** Per payer a user.created, then its default plan's item `.active`, that item `.ended` and the new plan's `.active`. */
const subscriptionItems: Workload = {
  defaultCount: 700,
  describe: ({ count }) => `${count} payers: ${count * 3} subscriptionItem.* deliveries`,
  async run(deliver, timed, { count }) {
    for (let i = 0; i < count; i++) {
      const userId = `user_${newClerkId("b").slice(2)}`;
      await deliver(userEvent("user.created", { userId, updatedAt: Date.now(), index: i }).body);
      const free = { userId, organizationId: undefined, itemId: newClerkId("csub_item"), plan: "free_user" };
      const pro = { ...free, itemId: newClerkId("csub_item"), plan: "pro" };
      for (const [type, ids] of [
        ["subscriptionItem.active", free],
        ["subscriptionItem.ended", free],
        ["subscriptionItem.active", pro],
      ] as const) {
        await timed(JSON.stringify(sampleBillingEvent(type, ids)));
      }
    }
  },
};

const updatedAtOf = (event: { data: object }) => ("updated_at" in event.data ? Number(event.data.updated_at) : 0);

/**
 * Per invitation `organizationInvitation.created`, then `.accepted` (`.revoked` for every third), both timed; half
 * the organizations are delivered first, the other half first arrive with an invitation.
 */
const invitations: Workload = {
  defaultCount: 1000,
  describe: ({ count, organizations }) =>
    `${count} invitations over ${organizations} organizations: ${count * 2} organizationInvitation.* deliveries`,
  async run(deliver, timed, options) {
    const orgs = await organizations(deliver, options.organizations);
    for (let i = 0; i < options.count; i++) {
      const userId = newClerkId("user");
      const invitation = {
        organizationId: orgs[i % orgs.length] as string,
        userId,
        email: `${userId.slice("user_".length)}@bench.example.com`,
        role: i % 10 === 0 ? "org:admin" : "org:member",
        objectId: newClerkId("orginv"),
        permissions: [],
      };
      const created = sampleTeamEvent("organizationInvitation.created", invitation);
      await timed(JSON.stringify(created));
      const outcome = sampleTeamEvent(
        i % 3 === 2 ? "organizationInvitation.revoked" : "organizationInvitation.accepted",
        invitation,
      );
      // Newer than `.created` even within the same millisecond, so it is applied, never `stale`.
      const updatedAt = Math.max(updatedAtOf(outcome), updatedAtOf(created) + 1);
      await timed(JSON.stringify({ ...outcome, data: { ...outcome.data, updated_at: updatedAt } }));
    }
  },
};

export const WORKLOADS = {
  memberships,
  "subscription-items": subscriptionItems,
  invitations,
} as const satisfies Record<string, Workload>;
export type Kind = keyof typeof WORKLOADS;
