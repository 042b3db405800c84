import { expect } from "vitest";
import { clerkEvent, clerkUser, type UserOptions } from "./clerk.js";
import {
  clerkOptions,
  createSessionSigner,
  type FakeClerkApi,
  type SessionSigner,
  startFakeClerkApi,
} from "./clerk-session.js";
import type { TestDatabase } from "./database.js";
import { createHarness, describeResponse, type Harness } from "./harness.js";

/** The app with `/v1/me` turned on: sessions signed by `signer`, users looked up in the fake Backend API `api`. */
export interface MeHarness extends Harness {
  api: FakeClerkApi;
  signer: SessionSigner;
  /** A user that exists in (fake) Clerk, not provisioned here, and a session token for it. */
  signUp(options?: UserOptions): { id: string; user: Record<string, unknown>; token: string };
  /** `GET /v1/me` with `token` as the bearer. */
  me(token: string): Promise<Response>;
  /** `GET /v1/me`, asserted to answer 200: its body. */
  meBody<T>(token: string): Promise<T>;
  /** A signed delivery of a Clerk event, asserted to answer 200: its outcome. */
  send(type: string, data: Record<string, unknown>): Promise<string>;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Closing it closes the database and the fake API. */
export async function openMeHarness(database: TestDatabase): Promise<MeHarness> {
  const signer = createSessionSigner();
  const api = await startFakeClerkApi();
  const h = createHarness(database, { clerk: clerkOptions(signer, api) });
  const me = async (token: string) => h.app.request("/v1/me", { headers: bearer(token) });
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
    me,
    meBody: async <T>(token: string) => {
      const res = await me(token);
      expect(res.status, await describeResponse(res)).toBe(200);
      return (await res.json()) as T;
    },
    send: async (type, data) => {
      const res = await h.deliver(clerkEvent(type, data));
      expect(res.status, await describeResponse(res)).toBe(200);
      return ((await res.json()) as { outcome: string }).outcome;
    },
    close: async () => {
      await h.close();
      await api.close();
    },
  };
}
