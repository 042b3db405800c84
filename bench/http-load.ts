import { connect, type Socket } from "node:net";

/**
 * A deliberately small HTTP/1.1 keep-alive client: the load generator shares two cores with the service and the
 * database, so it writes pre-built request bytes and reads only the status line, the length and the body.
 */
export interface Reply {
  status: number;
  body: string;
}

const HEADER_END = Buffer.from("\r\n\r\n");

class Connection {
  private buffered: Buffer = Buffer.alloc(0);
  private waiting: { resolve(reply: Reply): void; reject(error: Error): void } | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (error) => this.fail(error));
    socket.on("close", () => this.fail(new Error("connection closed by the service")));
  }

  static open(port: number, host: string): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host }, () => resolve(new Connection(socket)));
      socket.once("error", reject);
    });
  }

  send(request: Buffer): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(request);
    });
  }

  close() {
    this.socket.destroy();
  }

  private fail(error: Error) {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(error);
  }

  private onData(chunk: Buffer) {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const end = this.buffered.indexOf(HEADER_END);
    if (end < 0) return;
    const head = this.buffered.toString("latin1", 0, end);
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!length) {
      this.fail(new Error(`the benchmark client reads only Content-Length replies: ${head.split("\r\n")[0]}`));
      return;
    }
    const total = end + HEADER_END.length + Number(length[1]);
    if (this.buffered.length < total) return;
    const body = this.buffered.toString("utf8", end + HEADER_END.length, total);
    this.buffered = this.buffered.subarray(total);
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve({ status, body });
  }
}

export interface LoadResult {
  /** Requests answered (any status). */
  completed: number;
  seconds: number;
  /** Per-request latency in ms, in completion order. */
  latencies: Float64Array;
  nonOk: number;
  /** Non-2xx replies by status, with a sample body each. */
  failures: Record<string, { count: number; sample: string }>;
  outcomes: Record<string, number>;
  /** Index (into the requests) of each request that was sent. */
  sent: number;
}

const OUTCOME = /"outcome":"([a-z]+)"/;

export function countFailure(failures: LoadResult["failures"], key: string, sample: () => string) {
  const failure = failures[key];
  if (failure) failure.count++;
  else failures[key] = { count: 1, sample: sample().slice(0, 300) };
}

/**
 * Sends `requests` in order over `concurrency` keep-alive connections, each waiting for its reply before the next
 * request; stops issuing when they run out or after `seconds`, then waits for those in flight.
 */
export async function runHttpLoad(options: {
  port: number;
  host: string;
  concurrency: number;
  seconds: number;
  /** Gives the request bytes for index i (pre-built, or built on demand for a soak). */
  request: (i: number) => Buffer;
  count: number;
  onReply?: (reply: Reply, index: number) => void;
}): Promise<LoadResult> {
  const connections = await Promise.all(
    Array.from({ length: options.concurrency }, () => Connection.open(options.port, options.host)),
  );
  const latencies = new Float64Array(options.count);
  const failures: LoadResult["failures"] = {};
  const outcomes: Record<string, number> = {};
  let next = 0;
  let completed = 0;
  let nonOk = 0;
  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  const worker = async (connection: Connection) => {
    while (next < options.count && performance.now() < deadline) {
      const index = next++;
      const request = options.request(index);
      const sentAt = performance.now();
      const reply = await connection.send(request);
      latencies[completed++] = performance.now() - sentAt;
      if (reply.status < 200 || reply.status > 299) {
        nonOk++;
        countFailure(failures, String(reply.status), () => reply.body);
      } else {
        const outcome = OUTCOME.exec(reply.body)?.[1] ?? "unknown";
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      }
      options.onReply?.(reply, index);
    }
  };
  try {
    await Promise.all(connections.map(worker));
  } finally {
    for (const connection of connections) connection.close();
  }
  const seconds = (performance.now() - started) / 1000;
  return { completed, seconds, latencies: latencies.subarray(0, completed), nonOk, failures, outcomes, sent: next };
}
