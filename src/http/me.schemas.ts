import { z } from "@hono/zod-openapi";

/** Lone UTF-16 surrogates: JSON can carry them, PostgreSQL's UTF-8 cannot store them faithfully. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * The database's `valid_workspace_name` (`char_length(name) BETWEEN 1 AND 100 AND name = btrim(name)`), checked
 * before the database sees it: trimmed first (JS `trim` removes every space `btrim` does, and more), then counted
 * in code points like `char_length` (not UTF-16 units: an emoji is one character).
 */
export const WorkspaceNameSchema = z
  .string({ error: (issue) => (issue.input === undefined ? "is required" : "must be a string") })
  .trim()
  .min(1, "must not be empty or only spaces")
  .refine((name) => [...name].length <= 100, "must be at most 100 characters")
  .refine(
    (name) => !name.includes("\u0000") && !LONE_SURROGATE.test(name),
    "must be valid text (no NUL, no lone surrogates)",
  )
  .openapi({ minLength: 1, maxLength: 100, description: "Trimmed; 1–100 characters.", example: "Acme Research" });

export const RenameWorkspaceSchema = z
  .strictObject({ name: WorkspaceNameSchema })
  .openapi("RenameWorkspace", { description: "The new name of the caller's own workspace." });

const timestamp = z.string().openapi({ format: "date-time", example: "2026-01-02T03:04:05.000Z" });

export const WorkspaceSchema = z
  .object({
    id: z.string().openapi({ example: "8f14e45f-ceea-467f-a0d2-0a4b3b7e5c1a" }),
    name: z.string().openapi({ example: "My Workspace" }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .openapi("Workspace");

export const UserSchema = z
  .object({
    id: z.string().openapi({ description: "The Clerk user id", example: "user_29w83sxmDNGwOuEthce5gg56FcC" }),
    email: z.string().openapi({ description: "The primary e-mail address, lower-cased", example: "ada@example.com" }),
    username: z.string().openapi({ example: "ada" }),
    firstName: z.string().nullable(),
    lastName: z.string().nullable(),
    avatarUrl: z.string().nullable(),
    subscriptionTier: z.string().openapi({
      description:
        "The user's plan, mirrored from Clerk Billing: the plan slug of the user's granting subscription item " +
        "(active, past_due, or canceled until its period ends); `free` when none grants",
      example: "pro",
    }),
    storageUsed: z.number().int().openapi({ description: "bytes" }),
    storageLimit: z.number().int().openapi({ description: "bytes", example: 2147483648 }),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .openapi("User");

export const OrganizationSchema = z
  .object({
    id: z.string().openapi({ description: "The Clerk organization id", example: "org_29w9IfBrPmcpi0IeBVaKtA7R94W" }),
    name: z.string().openapi({ example: "Acme Inc" }),
    slug: z.string().nullable().openapi({ description: "null when the instance has slugs turned off" }),
    imageUrl: z.string().nullable(),
    role: z.string().openapi({ description: "The user's role key, as Clerk sends it", example: "org:admin" }),
    subscriptionTier: z.string().openapi({
      description: "The organization's plan, mirrored from Clerk Billing as the user's is; `free` when none grants",
      example: "team",
    }),
  })
  .openapi("Organization");

export const MeSchema = z
  .object({
    user: UserSchema,
    workspace: WorkspaceSchema,
    organizations: z.array(OrganizationSchema).openapi({ description: "The user's Clerk organizations (teams)" }),
  })
  .openapi("Me");
