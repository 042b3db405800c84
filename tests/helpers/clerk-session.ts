import { generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export const TEST_CLERK_SECRET_KEY = "sk_test_clerk_provisioner_tests";
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

export interface FakeClerkApi {
  /** The `apiUrl` to give `@clerk/backend`. */
  url: string;
  /** `UserJSON` by id, answered by `GET /v1/users/:id`; ids not here (or deleted) answer Clerk's 404. */
  users: Map<string, Record<string, unknown>>;
  /** User ids looked up, in order. */
  lookups: string[];
  /** Runs when a lookup arrives, before it is answered (to interleave other work deterministically). */
  onLookup: ((userId: string) => Promise<void>) | undefined;
  /** Answers every request with this status instead (e.g. 500, to play an outage). */
  failWith: number | undefined;
  close(): Promise<void>;
}

/** The part of Clerk's Backend API the service uses, on node:http on a free port. */
export async function startFakeClerkApi(): Promise<FakeClerkApi> {
  const api: FakeClerkApi = {
    url: "",
    users: new Map(),
    lookups: [],
    onLookup: undefined,
    failWith: undefined,
    close: async () => {},
  };
  const send = (res: ServerResponse, status: number, body: unknown) => {
    // @clerk/backend parses JSON only when the content type is exactly application/json, as Clerk sends it.
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  };
  const clerkError = (code: string, message: string) => ({
    errors: [{ code, message, long_message: message }],
    clerk_trace_id: randomBytes(8).toString("hex"),
  });
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.headers.authorization !== `Bearer ${TEST_CLERK_SECRET_KEY}`) {
      return send(res, 401, clerkError("authentication_invalid", "invalid secret key"));
    }
    if (api.failWith) return send(res, api.failWith, clerkError("internal_clerk_error", "something went wrong"));
    const match = /^\/v1\/users\/([^/?]+)$/.exec(req.url ?? "");
    if (req.method !== "GET" || !match?.[1]) return send(res, 404, clerkError("resource_not_found", "no route"));
    const userId = decodeURIComponent(match[1]);
    api.lookups.push(userId);
    await api.onLookup?.(userId);
    const user = api.users.get(userId);
    if (!user) return send(res, 404, clerkError("resource_not_found", "Resource not found"));
    return send(res, 200, user);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => send(res, 500, clerkError("test_server", "fake Clerk API failed")));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  api.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  api.close = () =>
    new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((error) => (error ? reject(error) : resolve()));
    });
  return api;
}
