import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkEvent, newSvixId } from "../helpers/clerk.js";
import { organizationFixture } from "../helpers/clerk-organizations.js";
import { clerkPermission, clerkRole, newPermissionId, newRoleId } from "../helpers/clerk-teams.js";
import { drivers } from "../helpers/database.js";
import { createHarness, type Harness, outcomeOf } from "../helpers/harness.js";

interface RoleRow {
  id: string;
  key: string;
  name: string | null;
  description: string | null;
  permissions: string[];
}

describe.each(drivers())("roles and permissions on $name", ({ open }) => {
  let h: Harness;
  beforeAll(async () => {
    h = createHarness(await open());
  });
  afterAll(() => h.close());

  const send: Harness["send"] = (type, data, svixId) => h.send(type, data, svixId);
  const role = async (id: string) =>
    (
      await h.database.query<RoleRow>("SELECT id, key, name, description, permissions FROM roles WHERE id = $1", [id])
    )[0];
  const permission = async (id: string) =>
    (
      await h.database.query<{ key: string; name: string; type: string }>(
        "SELECT key, name, type FROM permissions WHERE id = $1",
        [id],
      )
    )[0];
  const deliverFixture = async (name: string) => outcomeOf(await h.deliver(organizationFixture(`openapi.${name}`)));

  test("Clerk's published role payloads: created, updated (its key and permissions with it), deleted for good", async () => {
    const id = "role_2g7np7Hrk0SN6kj5EDMLDaKNL0S";
    expect(await deliverFixture("role.created")).toBe("provisioned");
    expect(await role(id)).toEqual({
      id,
      key: "org:content_manager",
      name: "Content Manager",
      description: "Can manage all content in the organization",
      permissions: ["org:posts:create"],
    });
    expect(await deliverFixture("role.updated")).toBe("provisioned");
    expect(await role(id)).toMatchObject({
      key: "editor",
      name: "Editor",
      permissions: ["org:posts:edit", "org:posts:publish"],
    });
    expect(await deliverFixture("role.deleted")).toBe("deleted");
    expect(await role(id)).toBeUndefined();
    expect(
      await send("role.updated", clerkRole({ id, key: "editor", permissions: [], updatedAt: 1_900_000_000_000 })),
    ).toBe("stale");
    expect(await role(id)).toBeUndefined();
  });

  test("Clerk's published permission payloads: created, updated, deleted for good", async () => {
    const id = "perm_2g7np7Hrk0SN6kj5EDMLDaKNL0S";
    expect(await deliverFixture("permission.created")).toBe("provisioned");
    expect(await permission(id)).toEqual({ key: "org:posts:create", name: "Create Posts", type: "custom" });
    expect(await deliverFixture("permission.updated")).toBe("provisioned");
    expect(await permission(id)).toMatchObject({ name: "Create and Edit Posts" });
    expect(await deliverFixture("permission.deleted")).toBe("deleted");
    expect(await permission(id)).toBeUndefined();
    expect(
      await send("permission.created", clerkPermission({ id, key: "org:posts:create", updatedAt: 1_900_000_000_000 })),
    ).toBe("stale");
    expect(await permission(id)).toBeUndefined();
  });

  test("an update older than or as old as what is stored changes nothing", async () => {
    const id = newRoleId();
    const key = `org:r_${id.slice(5)}`;
    await send("role.created", clerkRole({ id, key, permissions: ["org:a"], updatedAt: 2_000 }));
    expect(await send("role.updated", clerkRole({ id, key, permissions: [], updatedAt: 1_000 }))).toBe("stale");
    expect(await send("role.updated", clerkRole({ id, key, permissions: [], updatedAt: 2_000 }))).toBe("stale");
    expect((await role(id))?.permissions).toEqual(["org:a"]);
  });

  test("a deleted permission's key is taken out of every role in the same delivery", async () => {
    const id = newPermissionId();
    const key = `org:p_${id.slice(5)}:manage`;
    const roles = [newRoleId(), newRoleId()];
    await send("permission.created", clerkPermission({ id, key }));
    for (const roleId of roles) {
      await send(
        "role.created",
        clerkRole({ id: roleId, key: `org:r_${roleId.slice(5)}`, permissions: ["org:keep", key] }),
      );
    }
    expect(await send("permission.deleted", { object: "permission", id, deleted: true })).toBe("deleted");
    for (const roleId of roles) expect((await role(roleId))?.permissions).toEqual(["org:keep"]);
  });

  test("30 different deliveries of one role at once leave the newest; 30 copies of one delivery are applied once", async () => {
    const id = newRoleId();
    const key = `org:r_${id.slice(5)}`;
    const versions = Array.from({ length: 30 }, (_, i) => i + 1);
    await Promise.all(
      versions.map((n) =>
        send("role.updated", clerkRole({ id, key, permissions: [`org:v${n}`], updatedAt: n * 1_000 })),
      ),
    );
    expect((await role(id))?.permissions).toEqual(["org:v30"]);
    const svixId = newSvixId();
    const data = clerkRole({ id: newRoleId(), key: `org:copy_${id.slice(5)}`, permissions: [] });
    const outcomes = await Promise.all(versions.map(() => send("role.created", data, svixId)));
    expect(outcomes.filter((o) => o === "provisioned")).toHaveLength(1);
    expect(outcomes.filter((o) => o === "duplicate")).toHaveLength(29);
  });

  test.each([
    ["a role without a key", "role.created", { key: undefined }, /data\.key/],
    ["a role whose permissions are not a list", "role.created", { permissions: "org:a" }, /data\.permissions/],
    ["a permission key of kilobytes", "permission.created", { key: `org:${"x".repeat(5000)}` }, /data\.key/],
  ])("%s: 422 naming the field, nothing written", async (_, type, change, message) => {
    const id = type === "role.created" ? newRoleId() : newPermissionId();
    const base =
      type === "role.created"
        ? clerkRole({ id, key: "org:x", permissions: [] })
        : clerkPermission({ id, key: "org:y" });
    const res = await h.deliver(clerkEvent(type, { ...base, ...change }));
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
    const [row] = await h.database.query<{ n: number }>(
      "SELECT ((SELECT count(*) FROM roles WHERE id = $1) + (SELECT count(*) FROM permissions WHERE id = $1))::int AS n",
      [id],
    );
    expect(row?.n).toBe(0);
  });
});
