import { type ClerkUser, parseClerkUser } from "../clerk/events.js";
import { isServiceError } from "../errors.js";
import { addInto as add, type Counts } from "../outcome.js";
import { toUserRow, type UserRow } from "../provisioning/users/row.js";
import type { PageRecord } from "./users-page.js";

/** `npm run sync`'s users: a listed page mapped as the webhook maps a user (sync-page.ts applies it). */

/** A page of Clerk's `UserJSON`s, mapped as the webhook maps them; ids already seen by this invocation are dropped. */
export function preparePage(
  listed: readonly unknown[],
  seen: Set<string>,
): {
  rows: UserRow[];
  records: PageRecord[];
  extraCounts: Counts;
  ids: string[];
  failures: { userId: string; reason: string }[];
} {
  const page = {
    rows: [] as UserRow[],
    records: [] as PageRecord[],
    extraCounts: {} as Counts,
    ids: [] as string[],
    failures: [] as { userId: string; reason: string }[],
  };
  for (const raw of listed) {
    const fields = (typeof raw === "object" && raw !== null ? raw : {}) as { id?: unknown; updated_at?: unknown };
    const id = typeof fields.id === "string" && fields.id.length > 0 ? fields.id : undefined;
    if (id !== undefined) {
      if (seen.has(id)) continue;
      seen.add(id);
      page.ids.push(id);
    }
    let user: ClerkUser;
    try {
      user = parseClerkUser(raw);
    } catch (error) {
      if (!isServiceError(error, "invalid_payload")) throw error;
      add(page.extraCounts, "failed:invalid_payload");
      page.failures.push({ userId: id ?? "(no id)", reason: `invalid_payload (${error.message})` });
      if (id !== undefined) {
        const updatedAt = typeof fields.updated_at === "number" ? Math.trunc(fields.updated_at) : 0;
        page.records.push({ userId: id, updatedAt, outcome: "failed", reason: "invalid_payload" });
      }
      continue;
    }
    const mapped = toUserRow(user);
    if (mapped.kind === "skip") {
      add(page.extraCounts, `skipped:${mapped.reason}`);
      page.records.push({ userId: user.id, updatedAt: user.updatedAt, outcome: "skipped", reason: mapped.reason });
      continue;
    }
    page.rows.push(mapped.row);
  }
  return page;
}
