import { describe, expect, it } from "vitest";
import { KINDS } from "./kinds.js";

/**
 * The rendered text of every kind's statements, committed beside the kind (`<kind>/<statement>.sql`), so that a
 * change to the SQL shows in review as a SQL diff. After an intended change: `npx vitest run src/provisioning/kinds.test.ts --update`, and commit the files.
 */
/** A kind's folder: its name in kebab case (`subscriptionItems` → `subscription-items/`). */
const folderOf = (name: string) => name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);

describe("the statements each kind runs", () => {
  for (const [name, kind] of Object.entries(KINDS)) {
    for (const [statement, text] of Object.entries(kind.sql)) {
      it(`${name}: ${statement}`, async () => {
        await expect(`${text}\n`).toMatchFileSnapshot(`./${folderOf(name)}/${statement}.sql`);
      });
    }
  }
});
