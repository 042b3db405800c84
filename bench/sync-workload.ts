import { randomBytes } from "node:crypto";

const FIRST = [
  "ada",
  "grace",
  "alan",
  "john",
  "mary",
  "linus",
  "ken",
  "barbara",
  "edsger",
  "donald",
  "margaret",
  "dennis",
  "bjarne",
  "guido",
  "james",
  "anita",
  "radia",
  "frances",
  "jean",
  "sophie",
  "tim",
  "vint",
  "hedy",
  "carol",
  "niklaus",
  "tony",
  "leslie",
  "shafi",
  "judea",
  "yann",
  "fei",
  "andrew",
  "david",
  "sarah",
  "emma",
  "liam",
  "olivia",
  "noah",
  "ava",
  "lucas",
  "mia",
  "ethan",
  "zoe",
  "omar",
  "yuki",
  "priya",
  "chen",
  "ivan",
  "lena",
  "marco",
];
const LAST = [
  "lovelace",
  "hopper",
  "turing",
  "backus",
  "hamilton",
  "torvalds",
  "thompson",
  "liskov",
  "dijkstra",
  "knuth",
  "ritchie",
  "stroustrup",
  "rossum",
  "gosling",
  "borg",
  "perlman",
  "allen",
  "sammet",
  "wilson",
  "lee",
  "cerf",
  "lamarr",
  "shaw",
  "wirth",
  "hoare",
  "lamport",
  "goldwasser",
  "pearl",
  "lecun",
  "li",
  "ng",
  "patterson",
  "smith",
  "jones",
  "garcia",
  "martin",
  "brown",
  "miller",
  "davis",
  "lopez",
];

/**
 * A Clerk `UserJSON` as the Backend API lists it (~1.6 KB): ids, one verified e-mail, names, image, metadata.
 *
 * Local parts (and so the usernames derived from them) collide as sign-ups do: 70 % are distinct, 15 % are
 * `first.last` (about 7 users per name pair, plus the Clerk usernames below on the same bases), 10 % are
 * `first` + initial + year (rarely shared), 4 % a bare first name (about 80 users per name: the username suffix
 * search), 1 % have no e-mail at all (skipped). A tenth of the users have a Clerk username, `first_last`.
 */
export function benchUser(i: number): Record<string, unknown> {
  // Each attribute from other bits of a multiplicative hash of i, so that they vary independently.
  const h = Math.imul(i + 1, 0x9e3779b1) >>> 0;
  const first = FIRST[h % FIRST.length] as string;
  const last = LAST[(h >>> 6) % LAST.length] as string;
  const bucket = (h >>> 12) % 100;
  const local =
    bucket < 70
      ? `${first}.${last}${i}`
      : bucket < 85
        ? `${first}.${last}`
        : bucket < 95
          ? `${first}${last[0]}${1960 + ((h >>> 19) % 45)}`
          : `${first}`;
  const id = `user_${i.toString(36).padStart(6, "0")}${randomBytes(10).toString("hex")}`;
  const emailId = `idn_${randomBytes(12).toString("hex")}`;
  const created = 1_700_000_000_000 + i * 1000;
  const hasEmail = bucket !== 99;
  return {
    id,
    object: "user",
    username: (h >>> 25) % 10 === 0 ? `${first}_${last}` : null,
    first_name: first[0]?.toUpperCase() + first.slice(1),
    last_name: last[0]?.toUpperCase() + last.slice(1),
    image_url: `https://img.clerk.com/eyJ0eXBlIjoicHJveHkiLCJzcmMiOiJodHRwczovL2ltYWdlcy5jbGVyay5kZXYv${i}`,
    has_image: false,
    primary_email_address_id: hasEmail ? emailId : null,
    primary_phone_number_id: null,
    primary_web3_wallet_id: null,
    password_enabled: true,
    two_factor_enabled: false,
    totp_enabled: false,
    backup_code_enabled: false,
    email_addresses: hasEmail
      ? [
          {
            id: emailId,
            object: "email_address",
            email_address: `${local}@mail${i}.example.com`,
            reserved: false,
            verification: { status: "verified", strategy: "email_code", attempts: 1, expire_at: created + 600_000 },
            linked_to: [],
            created_at: created,
            updated_at: created,
          },
        ]
      : [],
    phone_numbers: [],
    web3_wallets: [],
    passkeys: [],
    external_accounts: [],
    saml_accounts: [],
    enterprise_accounts: [],
    public_metadata: { plan: i % 3 === 0 ? "pro" : "free" },
    private_metadata: {},
    unsafe_metadata: {},
    external_id: null,
    last_sign_in_at: created + 5_000,
    banned: false,
    locked: false,
    lockout_expires_in_seconds: null,
    verification_attempts_remaining: 100,
    created_at: created,
    updated_at: created + 1_000,
    delete_self_enabled: true,
    create_organization_enabled: true,
    last_active_at: created + 5_000,
    mfa_enabled_at: null,
    mfa_disabled_at: null,
    legal_accepted_at: null,
    profile_image_url: "https://www.gravatar.com/avatar?d=mp",
  };
}

/** Organization `i` of the organizations workload: Clerk's `OrganizationJSON`, as the Backend API lists it. */
export function benchOrganization(i: number): Record<string, unknown> {
  const h = Math.imul(i + 1, 0x85ebca6b) >>> 0;
  const created = 1_700_000_000_000 + i * 1000;
  const name = `${(LAST[h % LAST.length] as string).replace(/^./, (c) => c.toUpperCase())} Team ${i}`;
  return {
    object: "organization",
    id: `org_${i.toString(36).padStart(6, "0")}${randomBytes(10).toString("hex")}`,
    name,
    slug: `team-${i}`,
    image_url: `https://img.clerk.com/org-${i}`,
    has_image: false,
    members_count: null,
    max_allowed_memberships: 0,
    admin_delete_enabled: true,
    public_metadata: {},
    private_metadata: {},
    created_by: null,
    created_at: created,
    updated_at: created + 1_000,
  };
}

/**
 * Membership `i` of the workload: of organization `i % organizations.length` (so every organization gets about
 * the same number), for a user spread over `userIds` so that no user is twice in one organization while there are
 * at most as many memberships as users; the first of each organization is its admin.
 */
export function benchMembership(
  i: number,
  organizations: readonly Record<string, unknown>[],
  userIds: readonly string[],
): Record<string, unknown> {
  const organization = organizations[i % organizations.length] as Record<string, unknown>;
  const userId = userIds[(i * 7919) % userIds.length] as string;
  const created = 1_700_000_000_000 + i * 100;
  return {
    object: "organization_membership",
    id: `orgmem_${i.toString(36).padStart(6, "0")}${randomBytes(10).toString("hex")}`,
    role: i < organizations.length ? "org:admin" : "org:member",
    role_name: i < organizations.length ? "Admin" : "Member",
    permissions: [],
    public_metadata: {},
    private_metadata: {},
    created_at: created,
    updated_at: created,
    organization,
    public_user_data: {
      user_id: userId,
      identifier: `${userId}@example.com`,
      first_name: null,
      last_name: null,
      image_url: "https://img.clerk.com/user",
      has_image: false,
    },
  };
}

/**
 * Clerk Billing's item `i` as `GET /v1/billing/subscription_items` answers it: the default plan's item of user
 * `i % users`, or, for every third, an upgrade's (the default plan's item ended, a paid one active).
 */
export function benchSubscriptionItem(i: number, userIds: readonly string[]): Record<string, unknown> {
  const userId = userIds[i % userIds.length] as string;
  const paid = i % 3 === 2;
  const created = 1_700_000_000_000 + i * 100;
  return {
    object: "commerce_subscription_item",
    id: `csub_item_${i.toString(36).padStart(6, "0")}${randomBytes(10).toString("hex")}`,
    status: i % 3 === 1 ? "ended" : "active",
    is_free_trial: false,
    created_at: created,
    updated_at: created,
    period_start: created,
    period_end: paid ? created + 30 * 86_400_000 : null,
    plan_id: paid ? "cplan_pro" : "cplan_free_user",
    plan: { id: paid ? "cplan_pro" : "cplan_free_user", slug: paid ? "pro" : "free_user", amount: paid ? 2000 : 0 },
    payer: { object: "commerce_payer", user_id: userId, organization_id: null },
  };
}
