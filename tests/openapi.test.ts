import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createApp } from "../src/app.js";
import { createLogger } from "../src/logger.js";
import { clerkEvent, clerkUser, newUserId, signDelivery, TEST_SECRET } from "./helpers/clerk.js";
import { openTestPglite, openUnreachablePostgres } from "./helpers/database.js";
import { expectRejected } from "./helpers/expect-error.js";
import { createHarness, describeResponse, type Harness } from "./helpers/harness.js";

type Json = Record<string, unknown>;

/** Every route the app serves, with the status codes of every answer it gives (src/http/errors.ts has the codes). */
const ANSWERS: Record<string, number[]> = {
  "POST /webhooks/clerk": [200, 400, 401, 409, 413, 422, 500, 503],
  "GET /health": [200, 503],
  "GET /metrics": [200],
  "GET /v1/me": [200, 401, 404, 409, 503],
  "PATCH /v1/me/workspace": [200, 400, 401, 404, 409, 413, 415, 422, 503],
};

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const PATH_ITEM_KEYS = new Set([...METHODS, "parameters", "summary", "description", "servers", "$ref"]);
const PARAMETER_PLACES = new Set(["query", "header", "path", "cookie"]);
const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** What breaks the OpenAPI 3.0 structure: required fields, status keys, parameters, and every `$ref` resolving. */
function structuralProblems(doc: Json): string[] {
  const problems: string[] = [];
  const check = (ok: boolean, problem: string) => {
    if (!ok) problems.push(problem);
  };
  check(typeof doc.openapi === "string" && /^3\.0\.\d+$/.test(doc.openapi), "openapi: not 3.0.x");
  const info = isObject(doc.info) ? doc.info : {};
  check(typeof info.title === "string" && typeof info.version === "string", "info: title and version required");
  const components = isObject(doc.components) ? doc.components : {};
  const operationIds = new Set<string>();
  for (const [path, item] of Object.entries(isObject(doc.paths) ? doc.paths : {})) {
    check(path.startsWith("/") && isObject(item), `${path}: not a path item`);
    for (const [key, operation] of Object.entries(isObject(item) ? item : {})) {
      check(PATH_ITEM_KEYS.has(key), `${path}: unknown key ${key}`);
      if (!METHODS.includes(key) || !isObject(operation)) continue;
      const where = `${key.toUpperCase()} ${path}`;
      if (typeof operation.operationId === "string") {
        check(!operationIds.has(operation.operationId), `${where}: operationId used twice`);
        operationIds.add(operation.operationId);
      }
      const responses = isObject(operation.responses) ? operation.responses : {};
      check(Object.keys(responses).length > 0, `${where}: no responses`);
      for (const [status, response] of Object.entries(responses)) {
        check(/^([1-5](\d\d|XX)|default)$/.test(status), `${where}: response key ${status}`);
        check(isObject(response) && typeof response.description === "string", `${where} ${status}: no description`);
        const content = isObject(response) && isObject(response.content) ? response.content : {};
        for (const [type, media] of Object.entries(content)) {
          check(isObject(media) && isObject(media.schema), `${where} ${status} ${type}: no schema`);
        }
      }
      for (const parameter of Array.isArray(operation.parameters) ? operation.parameters : []) {
        const ok = isObject(parameter) && typeof parameter.name === "string" && PARAMETER_PLACES.has(`${parameter.in}`);
        check(ok && (parameter.in !== "path" || parameter.required === true), `${where}: bad parameter`);
      }
      if (operation.requestBody !== undefined) {
        check(isObject(operation.requestBody) && isObject(operation.requestBody.content), `${where}: body content`);
      }
      for (const requirement of Array.isArray(operation.security) ? operation.security : []) {
        for (const scheme of Object.keys(isObject(requirement) ? requirement : {})) {
          const schemes = isObject(components.securitySchemes) ? components.securitySchemes : {};
          check(scheme in schemes, `${where}: unknown security scheme ${scheme}`);
        }
      }
    }
  }
  for (const ref of refsIn(doc)) check(resolve(doc, ref) !== undefined, `dangling $ref ${ref}`);
  return problems;
}

function refsIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(refsIn);
  if (!isObject(value)) return [];
  const own = typeof value.$ref === "string" ? [value.$ref] : [];
  return [...own, ...Object.values(value).flatMap(refsIn)];
}

function resolve(doc: Json, ref: string): unknown {
  if (!ref.startsWith("#/components/")) return undefined;
  let at: unknown = doc;
  for (const part of ref.slice(2).split("/")) at = isObject(at) ? at[part] : undefined;
  return at;
}

/** `METHOD /path` of every documented operation, with its status codes. */
function documented(doc: Json): Record<string, number[]> {
  const operations: Record<string, number[]> = {};
  for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, { responses: Json }>>)) {
    for (const [method, operation] of Object.entries(item)) {
      const statuses = Object.keys(operation.responses).map(Number);
      operations[`${method.toUpperCase()} ${path.replaceAll(/\{(\w+)\}/g, ":$1")}`] = statuses.sort((a, b) => a - b);
    }
  }
  return operations;
}

describe("GET /openapi.json", () => {
  let h: Harness;
  let doc: Json;
  beforeAll(async () => {
    h = createHarness(await openTestPglite());
    const res = await h.app.request("/openapi.json");
    expect(res.status, await describeResponse(res)).toBe(200);
    doc = (await res.json()) as Json;
  });
  afterAll(() => h.close());

  test("is an OpenAPI 3.0 document by structure", () => {
    expect(structuralProblems(doc)).toEqual([]);
  });

  test("the structural check finds a dangling $ref, a response without description and a bad status key", () => {
    const broken = structuredClone(doc) as { paths: Record<string, Record<string, { responses: Json }>> };
    const health = broken.paths["/health"]?.get;
    if (!health) throw new Error("no GET /health in the document");
    health.responses = { 200: { content: { "application/json": { schema: { $ref: "#/components/schemas/Nope" } } } } };
    health.responses["20"] = { description: "not a status" };
    expect(structuralProblems(broken as unknown as Json).sort()).toEqual([
      "GET /health 200: no description",
      "GET /health: response key 20",
      "dangling $ref #/components/schemas/Nope",
    ]);
  });

  test("describes every route the app serves, each with the status codes of all its answers", () => {
    const served = new Set(
      h.app.routes.filter((r) => r.method !== "ALL" && r.path !== "/openapi.json").map((r) => `${r.method} ${r.path}`),
    );
    expect(Object.keys(documented(doc)).sort()).toEqual([...served].sort());
    expect(documented(doc)).toEqual(ANSWERS);
  });

  test("the webhook's svix headers, its event body and its answer's outcomes are described", () => {
    const operation = (doc.paths as Record<string, Record<string, Json>>)["/webhooks/clerk"]?.post ?? {};
    const headers = operation.parameters as { name: string; in: string; required: boolean }[];
    expect(headers.map(({ name, in: place, required }) => `${place} ${name} ${required}`)).toEqual([
      "header svix-id true",
      "header svix-timestamp true",
      "header svix-signature true",
    ]);
    const body = operation.requestBody as { content: Record<string, { schema: { required: string[] } }> };
    expect(body.content["application/json"]?.schema.required).toEqual(["type", "data"]);
    const answer = resolve(doc, "#/components/schemas/DeliveryAnswer") as { properties: { outcome: { enum: [] } } };
    expect([...answer.properties.outcome.enum].sort()).toEqual(
      ["deleted", "duplicate", "failed", "ignored", "provisioned", "skipped", "stale"].sort(),
    );
  });

  test("the OpenAPI router parses nothing before the signature: a badly signed body is 401 whatever it holds", async () => {
    // A validator on the documented body would answer these 400, 415 or 422 before the signature was checked.
    const forged = (body: string, contentType: string) => {
      const delivery = signDelivery(body, { secret: `whsec_${"b".repeat(32)}` });
      return h.post({ body, headers: { ...delivery.headers, "content-type": contentType } });
    };
    for (const [body, contentType] of [
      ["{not json", "application/json"],
      ["{}", "application/json"],
      [JSON.stringify(clerkEvent("user.created", clerkUser())), "text/plain"],
    ] as const) {
      await expectRejected(h, () => forged(body, contentType), 401, "invalid_signature");
    }
  });

  test("the answers the app really gives are documented for their route, with their media type", async () => {
    const conflicted = newUserId();
    const email = `${conflicted.toLowerCase()}@example.com`;
    const created = signDelivery(clerkEvent("user.created", clerkUser({ id: conflicted, email })));
    const post = (body: string, headers: Record<string, string>) =>
      h.app.request("/webhooks/clerk", { method: "POST", body, headers });
    const unreachable = openUnreachablePostgres();
    const down = createApp({ db: unreachable.db, webhookSigningSecret: TEST_SECRET, logger: createLogger("silent") });
    const requests: [string, () => Response | Promise<Response>][] = [
      ["POST /webhooks/clerk", () => h.post(created)],
      ["POST /webhooks/clerk", () => h.post(created)],
      ["POST /webhooks/clerk", () => h.deliver(clerkEvent("user.created", clerkUser({ email })))],
      ["POST /webhooks/clerk", () => post("{}", {})],
      ["POST /webhooks/clerk", () => h.post(signDelivery({}, { secret: `whsec_${"b".repeat(32)}` }))],
      ["POST /webhooks/clerk", () => h.deliver("not json")],
      ["POST /webhooks/clerk", () => h.deliver(clerkEvent("user.created", {}))],
      ["POST /webhooks/clerk", () => post("{}", { "content-length": String(2 * 1024 * 1024) })],
      ["GET /health", () => h.app.request("/health")],
      ["GET /health", () => down.request("/health")],
      ["GET /metrics", () => h.app.request("/metrics")],
      ["GET /v1/me", () => h.app.request("/v1/me")],
      ["PATCH /v1/me/workspace", () => h.app.request("/v1/me/workspace", { method: "PATCH", body: "{}" })],
    ];
    const seen: string[] = [];
    try {
      for (const [route, send] of requests) {
        const res = await send();
        const described = `${route}: ${await describeResponse(res)}`;
        const [method, path] = route.split(" ") as [string, string];
        const paths = doc.paths as Record<string, Record<string, { responses: Record<string, Json> }>>;
        const answer = paths[path]?.[method.toLowerCase()]?.responses[String(res.status)];
        expect(answer, described).toBeDefined();
        const mediaType = (res.headers.get("content-type") ?? "").split(";")[0];
        const documentedTypes = Object.keys((answer?.content as Json) ?? {}).map((type) => type.split(";")[0]);
        expect(documentedTypes, described).toContain(mediaType);
        seen.push(`${route} ${res.status}`);
      }
    } finally {
      await unreachable.close();
    }
    expect(seen).toEqual([
      "POST /webhooks/clerk 200",
      "POST /webhooks/clerk 200",
      "POST /webhooks/clerk 409",
      "POST /webhooks/clerk 400",
      "POST /webhooks/clerk 401",
      "POST /webhooks/clerk 400",
      "POST /webhooks/clerk 422",
      "POST /webhooks/clerk 413",
      "GET /health 200",
      "GET /health 503",
      "GET /metrics 200",
      "GET /v1/me 401",
      "PATCH /v1/me/workspace 401",
    ]);
  });
});
