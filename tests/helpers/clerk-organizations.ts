import { randomBytes } from "node:crypto";
import { fixture } from "./clerk.js";

const unique = () => randomBytes(8).toString("hex");
export const newOrganizationId = () => `org_${unique()}`;
export const newMembershipId = () => `orgmem_${unique()}`;

/** One of Clerk's published organization payloads (tests/fixtures/clerk/organizations/). */
export const organizationFixture = (name: string) => fixture(`organizations/${name}`);

export interface OrganizationOptions {
  id?: string;
  name?: string;
  slug?: string | null;
  createdBy?: string | null;
  createdAt?: number;
  updatedAt?: number;
}

/** A Clerk `OrganizationJSON` built on the OpenAPI example, with a unique id. */
export function clerkOrganization(options: OrganizationOptions = {}): Record<string, unknown> {
  const base = organizationFixture("openapi.organization.created").data as Record<string, unknown>;
  return {
    ...base,
    id: options.id ?? newOrganizationId(),
    name: options.name ?? "Acme Corp",
    slug: options.slug === undefined ? `acme-${unique()}` : options.slug,
    created_by: options.createdBy === undefined ? null : options.createdBy,
    created_at: options.createdAt ?? 1_700_000_000_000,
    updated_at: options.updatedAt ?? 1_700_000_000_000,
  };
}

export interface MembershipOptions {
  id?: string;
  organizationId: string;
  userId: string;
  role?: string;
  createdAt?: number;
  updatedAt?: number;
  /** The embedded organization snapshot (defaults to one of `organizationId`). */
  organization?: Record<string, unknown>;
}

/** A Clerk `OrganizationMembershipJSON` built on the OpenAPI example. */
export function clerkMembership(options: MembershipOptions): Record<string, unknown> {
  const base = organizationFixture("openapi.organizationMembership.created").data as Record<string, unknown>;
  const userData = base.public_user_data as Record<string, unknown>;
  return {
    ...base,
    id: options.id ?? newMembershipId(),
    role: options.role ?? "org:member",
    organization: options.organization ?? clerkOrganization({ id: options.organizationId }),
    public_user_data: { ...userData, user_id: options.userId },
    created_at: options.createdAt ?? 1_700_000_000_000,
    updated_at: options.updatedAt ?? options.createdAt ?? 1_700_000_000_000,
  };
}
