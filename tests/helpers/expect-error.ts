import { expect } from "vitest";
import { describeResponse, type Harness } from "./harness.js";

export interface ErrorBody {
  code: string;
  message: string;
}

/** The status, a JSON content type, and exactly `{ error: { code, message } }` with a non-empty message. */
export async function expectError(res: Response, status: number, code: string): Promise<ErrorBody> {
  const described = await describeResponse(res);
  expect(res.status, described).toBe(status);
  expect(res.headers.get("content-type"), described).toMatch(/^application\/json/);
  const body = (await res.json()) as { error: ErrorBody };
  expect(body, described).toEqual({ error: { code, message: expect.any(String) } });
  expect(body.error.message.length, described).toBeGreaterThan(0);
  return body.error;
}

/** Runs `send` and asserts it was answered with the error and wrote nothing to users, workspaces or deliveries. */
export async function expectRejected(
  h: Harness,
  send: () => Response | Promise<Response>,
  status: number,
  code: string,
): Promise<ErrorBody> {
  const before = await h.counts();
  const error = await expectError(await send(), status, code);
  expect(await h.counts(), `counts after a ${status} ${code}`).toEqual(before);
  return error;
}
