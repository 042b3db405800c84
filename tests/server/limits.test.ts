import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clerkEvent, clerkUser, signDelivery } from "../helpers/clerk.js";
import { describeResponse } from "../helpers/harness.js";
import { type ServiceProcess, startService } from "../helpers/service-process.js";

/**
 * The real process (`node --import tsx src/main.ts`), with short limits so that the test stays fast. The bounds
 * allow for node's once-a-second check and a loaded machine; Node's own defaults would hold these sockets for a
 * minute (headers) to five (a trickled body).
 */
const LIMITS = {
  HTTP_HEADERS_TIMEOUT_SECONDS: "2",
  HTTP_REQUEST_TIMEOUT_SECONDS: "3",
  HTTP_KEEP_ALIVE_TIMEOUT_SECONDS: "1",
  HTTP_MAX_CONNECTIONS: "30",
};

interface Watched {
  socket: Socket;
  /** Seconds from connecting until the server closed it; undefined while open. */
  closedAfter(): number | undefined;
  received(): string;
}

async function openSocket(url: string): Promise<Watched> {
  const socket = connect(Number(new URL(url).port), "127.0.0.1");
  let closedAt: number | undefined;
  let received = "";
  const started = performance.now();
  socket.on("data", (chunk) => {
    received += chunk.toString();
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    closedAt = performance.now();
  });
  await new Promise((resolve) => socket.once("connect", resolve));
  return {
    socket,
    closedAfter: () => (closedAt === undefined ? undefined : (closedAt - started) / 1000),
    received: () => received,
  };
}

async function waitClosed(watched: Watched, withinSeconds: number): Promise<number | undefined> {
  const deadline = performance.now() + withinSeconds * 1000;
  while (watched.closedAfter() === undefined && performance.now() < deadline) await sleep(50);
  return watched.closedAfter();
}

describe("HTTP server limits of the running service", () => {
  let service: ServiceProcess;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "cp-limits-"));
    service = await startService({ env: { ...LIMITS, PGLITE_DATA_DIR: join(dir, "pglite") } });
  });
  afterAll(async () => {
    await service?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  const deliverOne = async () => {
    const res = await service.post(signDelivery(clerkEvent("user.created", clerkUser())));
    expect(res.status, await describeResponse(res)).toBe(200);
  };

  test("idle sockets, trickled headers and trickled bodies are closed within the limits; deliveries get through", async () => {
    const idle = await Promise.all(Array.from({ length: 10 }, () => openSocket(service.url)));
    const slowHeaders = await openSocket(service.url);
    slowHeaders.socket.write("POST /webhooks/clerk HTTP/1.1\r\nhost: 127.0.0.1\r\n");
    const slowBody = await openSocket(service.url);
    slowBody.socket.write(
      "POST /webhooks/clerk HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n",
    );
    const trickle = setInterval(() => slowBody.socket.write("x"), 200);
    const slowHeaderTrickle = setInterval(() => slowHeaders.socket.write("x-a: b\r\n"), 200);
    try {
      await deliverOne(); // while they are held
      const idleClosed = await Promise.all(idle.map((watched) => waitClosed(watched, 10)));
      const headersClosed = await waitClosed(slowHeaders, 10);
      const bodyClosed = await waitClosed(slowBody, 10);
      console.info(
        `closed after (s): idle ${idleClosed.map((s) => s?.toFixed(1)).join(",")}; trickled headers ${headersClosed?.toFixed(1)}; trickled body ${bodyClosed?.toFixed(1)} (limits: headers 2 s, request 3 s)`,
      );
      for (const seconds of idleClosed) expect(seconds).toBeLessThan(2 + 4);
      expect(headersClosed).toBeLessThan(2 + 4);
      expect(bodyClosed).toBeLessThan(3 + 4);
      expect(slowBody.received()).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      clearInterval(trickle);
      clearInterval(slowHeaderTrickle);
    }
    await deliverOne();
  });

  test("an idle keep-alive connection is closed after HTTP_KEEP_ALIVE_TIMEOUT_SECONDS", async () => {
    const watched = await openSocket(service.url);
    watched.socket.write("GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
    while (!watched.received().includes("\r\n\r\n")) await sleep(20);
    const closed = await waitClosed(watched, 10);
    console.info(`keep-alive socket closed ${closed?.toFixed(1)} s after connecting (limit 1 s idle)`);
    expect(watched.received()).toMatch(/^HTTP\/1\.1 200/);
    expect(closed).toBeLessThan(1 + 4); // node checks its timeouts once a second
  });

  test("past HTTP_MAX_CONNECTIONS new sockets are refused at once; once idle ones are gone, deliveries get through", async () => {
    const held = await Promise.all(Array.from({ length: 30 }, () => openSocket(service.url)));
    await sleep(200);
    const extra = await openSocket(service.url);
    expect(await waitClosed(extra, 1)).toBeLessThan(1); // refused while 30 are open
    await Promise.all(held.map((watched) => waitClosed(watched, 10)));
    await deliverOne();
  });
});
