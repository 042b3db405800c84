import { z } from "@hono/zod-openapi";

/** What `/openapi.json` says about itself; each route describes itself where it is defined. */
export const OPENAPI_DOCUMENT = {
  openapi: "3.0.3",
  info: {
    title: "clerk-provisioner",
    version: "1",
    description:
      "Mirrors Clerk users, organizations, memberships, invitations, roles and permissions into PostgreSQL from " +
      "Clerk's webhooks (sent by Svix), " +
      "and serves the signed-in user's account (authenticated by a Clerk session token), health and metrics.",
  },
};

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "unauthenticated" }),
      message: z.string().openapi({ example: "the session token has expired" }),
    }),
  })
  .openapi("Error");

/** A JSON answer (or request body) in a route definition. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});
