import { clerkUser, type UserOptions } from "./clerk.js";
import {
  clerkOptions,
  createSessionSigner,
  type FakeClerkApi,
  type SessionSigner,
  startFakeClerkApi,
} from "./clerk-session.js";
import type { TestDatabase } from "./database.js";
import { createHarness, type Harness } from "./harness.js";

/** The app with `/v1/me` turned on: sessions signed by `signer`, users looked up in the fake Backend API `api`. */
export interface MeHarness extends Harness {
  api: FakeClerkApi;
  signer: SessionSigner;
  /** A user that exists in (fake) Clerk, not provisioned here, and a session token for it. */
  signUp(options?: UserOptions): { id: string; user: Record<string, unknown>; token: string };
  /** `GET /v1/me` with `token` as the bearer. */
  me(token: string): Promise<Response>;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Closing it closes the database and the fake API. */
export async function openMeHarness(database: TestDatabase): Promise<MeHarness> {
  const signer = createSessionSigner();
  const api = await startFakeClerkApi();
  const h = createHarness(database, { clerk: clerkOptions(signer, api) });
  return {
    ...h,
    api,
    signer,
    signUp: (options = {}) => {
      const user = clerkUser(options);
      const id = user.id as string;
      api.users.set(id, user);
      return { id, user, token: signer.token({ sub: id }) };
    },
    me: async (token) => h.app.request("/v1/me", { headers: bearer(token) }),
    close: async () => {
      await h.close();
      await api.close();
    },
  };
}
