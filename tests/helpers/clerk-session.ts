import { generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import type { ClerkOptions } from "../../src/clerk/session.js";
/** The fake Backend API lives in fake-clerk-api.ts (it also serves the user list for the operator tools). */
import { type FakeClerkApi, TEST_CLERK_SECRET_KEY } from "../../support/fake-clerk-api.js";

export { type FakeClerkApi, startFakeClerkApi, TEST_CLERK_SECRET_KEY } from "../../support/fake-clerk-api.js";

export const TEST_ISSUER = "https://clerk.provisioner.test";
export const TEST_AZP = "http://localhost:5173";

const base64url = (value: Buffer | string) => Buffer.from(value).toString("base64url");

export interface SessionClaims {
  sub: string;
  sid?: string;
  iat?: number;
  exp?: number;
  nbf?: number;
  iss?: string;
  azp?: string;
  [claim: string]: unknown;
}

/** An RSA 2048 key pair like a Clerk instance's, made at test start; tokens signed like Clerk's session tokens. */
export interface SessionSigner {
  /** `CLERK_JWT_KEY`: the public key as PEM (SPKI), as the Clerk Dashboard shows it. */
  publicKeyPem: string;
  /** A session token for `sub`, valid for 60 s (Clerk's lifetime) unless claims say otherwise. */
  token(claims: SessionClaims, options?: { key?: KeyObject; header?: Record<string, unknown> }): string;
}

export function createSessionSigner(): SessionSigner {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const kid = `ins_${randomBytes(8).toString("hex")}`;
  return {
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    token(claims, options = {}) {
      const now = Math.floor(Date.now() / 1000);
      const header = { alg: "RS256", kid, typ: "JWT", ...options.header };
      const payload = {
        azp: TEST_AZP,
        iss: TEST_ISSUER,
        sid: `sess_${randomBytes(8).toString("hex")}`,
        iat: now,
        nbf: now - 10,
        exp: now + 60,
        ...claims,
      };
      const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
      const signature = sign("sha256", Buffer.from(signingInput), options.key ?? privateKey);
      return `${signingInput}.${base64url(signature)}`;
    },
  };
}

/** Another instance's key: its tokens are well-formed and correctly signed, but not by "our" Clerk. */
export function otherPrivateKey(): KeyObject {
  return generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
}

/** The service's Clerk options for sessions signed by `signer` and users looked up in the fake `api`. */
export const clerkOptions = (signer: SessionSigner, api: FakeClerkApi): ClerkOptions => ({
  jwtKey: signer.publicKeyPem,
  secretKey: TEST_CLERK_SECRET_KEY,
  apiUrl: api.url,
  authorizedParties: [TEST_AZP],
});
