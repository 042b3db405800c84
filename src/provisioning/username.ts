const MIN_LENGTH = 3;
const MAX_LENGTH = 30;
/** Collisions get suffixes 2…99999 (see apply-clerk-event.ts); `formsPattern` covers exactly those. */
const MAX_SUFFIX_DIGITS = 5;

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

export function chooseUsername(clerkUsername: string | null, email: string): UsernameChoice {
  const clerkBase = clerkUsername === null ? null : fitUsername(clerkUsername);
  const base = clerkBase ?? fitUsername(email.slice(0, email.lastIndexOf("@"))) ?? "user";
  const forms = [base];
  for (let digits = 1; digits <= MAX_SUFFIX_DIGITS; digits++) {
    const suffix = digits === 1 ? "[2-9]" : `[1-9][0-9]{${digits - 1}}`;
    forms.push(`${base.slice(0, MAX_LENGTH - digits)}${suffix}`);
  }
  return { base, fromClerk: clerkBase !== null, formsPattern: `^(?:${forms.join("|")})$` };
}
