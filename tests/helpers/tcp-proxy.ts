import net from "node:net";

export type ProxyMode = "open" | "cut" | "blackhole";

export interface TcpProxy {
  readonly port: number;
  readonly mode: ProxyMode;
  /** `databaseUrl` with its host and port replaced by the proxy's. */
  url(databaseUrl: string): string;
  /**
   * The server is gone: every open connection is destroyed (with a TCP reset when `reset`, else a FIN) and new
   * connections are refused (the listener is closed, so a connect gets ECONNREFUSED).
   */
  cut(options?: { reset?: boolean }): Promise<void>;
  /** The server hangs: new connections are accepted but never forwarded, and open ones stop forwarding (held). */
  blackhole(): void;
  /** Back to normal: listening again, held bytes and held connections are forwarded. */
  restore(): Promise<void>;
  /** Connections accepted / destroyed by cut so far. */
  readonly stats: { accepted: number; destroyed: number };
  close(): Promise<void>;
}

interface Link {
  client: net.Socket;
  upstream: net.Socket | undefined;
}

/**
 * A TCP proxy in front of PostgreSQL (127.0.0.1:5432 by default) that tests can cut, blackhole and restore. It
 * listens on a free port of 127.0.0.1, or where `listen` says (another loopback address can have port 6543, which
 * makes the service treat the proxy as the transaction pooler behind it).
 */
export async function startTcpProxy(
  target: { host: string; port: number } = { host: "127.0.0.1", port: 5432 },
  at: { host: string; port: number } = { host: "127.0.0.1", port: 0 },
) {
  const links = new Set<Link>();
  const stats = { accepted: 0, destroyed: 0 };
  let mode: ProxyMode = "open";

  const drop = (link: Link) => {
    links.delete(link);
    link.client.destroy();
    link.upstream?.destroy();
  };

  const forward = (link: Link) => {
    const upstream = net.connect(target.port, target.host);
    link.upstream = upstream;
    upstream.setNoDelay(true);
    upstream.on("error", () => drop(link));
    upstream.on("close", () => drop(link));
    link.client.pipe(upstream);
    upstream.pipe(link.client);
  };

  const hold = (link: Link) => {
    link.client.unpipe();
    link.client.pause();
    if (link.upstream) {
      link.upstream.unpipe();
      link.upstream.pause();
    }
  };

  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    stats.accepted++;
    const link: Link = { client, upstream: undefined };
    links.add(link);
    client.setNoDelay(true);
    client.on("error", () => drop(link));
    client.on("close", () => drop(link));
    if (mode === "open") forward(link);
    // "blackhole": accepted, then silence until restore(). ("cut" never gets here: the listener is closed.)
  });

  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, at.host, () => {
        server.off("error", reject);
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  const stopListening = () =>
    new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));

  const port = await listen(at.port);

  return {
    port,
    get mode() {
      return mode;
    },
    stats,
    url(databaseUrl: string) {
      const url = new URL(databaseUrl);
      url.hostname = at.host;
      url.port = String(port);
      return url.toString();
    },
    async cut({ reset = false } = {}) {
      mode = "cut";
      const closing = stopListening();
      for (const link of [...links]) {
        stats.destroyed++;
        links.delete(link);
        if (reset) link.client.resetAndDestroy();
        else link.client.destroy();
        link.upstream?.destroy();
      }
      await closing;
    },
    blackhole() {
      mode = "blackhole";
      for (const link of links) hold(link);
    },
    async restore() {
      const previous = mode;
      mode = "open";
      if (previous === "cut") await listen(port);
      for (const link of links) {
        if (!link.upstream) forward(link);
        else {
          link.client.pipe(link.upstream);
          link.upstream.pipe(link.client);
        }
      }
    },
    async close() {
      mode = "cut";
      const closing = stopListening();
      for (const link of [...links]) drop(link);
      await closing;
    },
  } satisfies TcpProxy;
}
