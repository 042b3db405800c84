import { request } from "node:http";
import { type AddressInfo, createServer } from "node:net";
import { serve } from "@hono/node-server";

export interface Listening {
  url: string;
  /** What the server saw of each request before the app, in arrival order. */
  seen: { contentLength: string | null; transferEncoding: string | null }[];
  close(): Promise<void>;
}

/** A port of 127.0.0.1 that nothing listens on (free when this returns). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Serves `fetch` on 127.0.0.1 on a free port, as `npm start` would (real sockets, real request streams). */
export async function listen(fetch: (request: Request) => Response | Promise<Response>): Promise<Listening> {
  const seen: Listening["seen"] = [];
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve(
      {
        fetch: (request: Request) => {
          seen.push({
            contentLength: request.headers.get("content-length"),
            transferEncoding: request.headers.get("transfer-encoding"),
          });
          return fetch(request);
        },
        port: 0,
        hostname: "127.0.0.1",
      },
      () => resolve(s),
    );
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve, reject) => {
        if ("closeAllConnections" in server) server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/**
 * POSTs `body` in `chunkSize` pieces with chunked transfer encoding (no Content-Length), via node:http rather than
 * fetch: a server may answer 413 and close the connection before the upload ends, and the answer must still be seen.
 */
export function postChunked(
  url: string,
  headers: Record<string, string>,
  body: string,
  chunkSize = 64 * 1024,
): Promise<Response> {
  const bytes = Buffer.from(body);
  return new Promise<Response>((resolve, reject) => {
    let answered = false;
    const req = request(url, { method: "POST", headers: { ...headers, "transfer-encoding": "chunked" } }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", reject);
      res.on("end", () => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (typeof value === "string") responseHeaders.set(name, value);
        }
        resolve(new Response(Buffer.concat(chunks), { status: res.statusCode, headers: responseHeaders }));
      });
    });
    // Once answered, a reset of the rest of the upload is the server's right.
    req.on("error", (error) => {
      if (!answered) reject(error);
    });
    let offset = 0;
    const writeMore = () => {
      while (offset < bytes.length) {
        const chunk = bytes.subarray(offset, offset + chunkSize);
        offset += chunkSize;
        if (!req.write(chunk)) return void req.once("drain", writeMore);
      }
      req.end();
    };
    writeMore();
  });
}
