const MIN_LENGTH = 3;
const MAX_LENGTH = 30;
/**
 * Collisions get the first free suffix of 2…SEQUENTIAL_SUFFIXES + 1, then one of 9 digits derived from the user id
 * (username-sql.ts): a crowded base costs a bounded number of index probes and never runs out. `formsPattern` covers
 * exactly those forms.
 */
export const SEQUENTIAL_SUFFIXES = 99; // 2…100: `formsPattern` spells these out
export const HASHED_SUFFIX_DIGITS = 9;

/**
 * Fits Clerk's username (4–64 chars, may hold `-` and `.`) or an e-mail's local part to `^[a-zA-Z0-9_]{3,30}$`;
 * null when nothing usable is left.
 */
export function fitUsername(raw: string): string | null {
  const cleaned = raw
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .slice(0, MAX_LENGTH)
    .replace(/_+$/, "");
  if (cleaned.length === 0) return null;
  return cleaned.length < MIN_LENGTH ? `${cleaned}_user` : cleaned;
}

export interface UsernameChoice {
  /** The preferred username; the provisioning SQL appends the first free numeric suffix when another user holds it. */
  base: string;
  /** Whether `base` comes from Clerk's own username: only then may a stored username change. */
  fromClerk: boolean;
  /** A PostgreSQL regex matching `base` and its suffixed forms (`base` holds no metacharacters). */
  formsPattern: string;
}

/**
 * Clerk's username, else the e-mail's local part; when neither has a Latin letter or digit (`用户@example.com`), the
 * Clerk user id, which no other user shares: one common base (`user`) would make every such sign-up collide.
 */
export function chooseUsername(clerkUsername: string | null, email: string, userId: string): UsernameChoice {
  const clerkBase = clerkUsername === null ? null : fitUsername(clerkUsername);
  const base = clerkBase ?? fitUsername(email.slice(0, email.lastIndexOf("@"))) ?? fitUsername(userId) ?? "user";
  const suffixed = (suffix: string, digits: number) => `${base.slice(0, MAX_LENGTH - digits)}${suffix}`;
  const forms = [
    base,
    suffixed("[2-9]", 1),
    suffixed("[1-9][0-9]", 2),
    suffixed(String(SEQUENTIAL_SUFFIXES + 1), 3),
    suffixed(`[1-9][0-9]{${HASHED_SUFFIX_DIGITS - 1}}`, HASHED_SUFFIX_DIGITS),
  ];
  return { base, fromClerk: clerkBase !== null, formsPattern: `^(?:${forms.join("|")})$` };
}
