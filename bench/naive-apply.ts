import { eq } from "drizzle-orm";
import { eventIds } from "../src/clerk/events.js";
import { clerkDeliveries, users, workspaces } from "../src/db/schema.js";
import type { ApplyEvent } from "../src/provisioning/apply-clerk-event.js";
import { chooseUsername } from "../src/provisioning/users/username.js";

/**
 * The comparator: the seed document's logic written plainly with Drizzle, one statement per step inside
 * BEGIN/COMMIT — claim the delivery, upsert the user, insert the workspace. No version row, no username
 * collision handling: it exists only to be measured against (`npm run bench`), never to serve.
 */
export const applyNaively: ApplyEvent = (db, { deliveryId, receivedAt, event }) =>
  db.transaction(async (tx) => {
    const eventType = event.type === "ignored" ? event.eventType : event.type;
    const clerkUserId = eventIds(event).userId ?? null;
    const claimed = await tx
      .insert(clerkDeliveries)
      .values({ deliveryId, eventType, clerkUserId, outcome: "provisioned", receivedAt })
      .onConflictDoNothing({ target: clerkDeliveries.deliveryId })
      .returning({ deliveryId: clerkDeliveries.deliveryId });
    if (claimed.length === 0) return "duplicate";
    if (event.type !== "user.created" && event.type !== "user.updated" && event.type !== "user.deleted") {
      return "ignored";
    }
    if (event.type === "user.deleted") {
      await tx.delete(users).where(eq(users.id, event.userId));
      return "deleted";
    }
    const { user } = event;
    if (!user.primaryEmail) return "skipped";
    const row = {
      email: user.primaryEmail,
      firstName: user.profile.firstName,
      lastName: user.profile.lastName,
      avatarUrl: user.profile.imageUrl,
    };
    const [upserted] = await tx
      .insert(users)
      .values({ id: user.id, username: chooseUsername(user.username, user.primaryEmail, user.id).base, ...row })
      .onConflictDoUpdate({ target: users.id, set: { ...row, updatedAt: receivedAt } })
      .returning({ id: users.id });
    if (!upserted) throw new Error("upsert returned no row");
    await tx
      .insert(workspaces)
      .values({ userId: upserted.id })
      .onConflictDoNothing({ target: workspaces.userId })
      .returning({ id: workspaces.id });
    return "provisioned";
  });
