// A TCP proxy the test controls, between one client (say an agent-node) and a server
// (say nats-server) on loopback. partition() drops every connection through it and
// refuses new ones (accepted, then reset) until heal(); the server itself is untouched.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  url(scheme: string): string;
  partitioned: boolean;
  partition(): void;
  heal(): void;
  stop(): Promise<void>;
}

/** target is read at each new connection (so a proxy can be made before its server). */
export async function startTcpProxy(target: () => { host: string; port: number }, listenHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let partitioned = false;
  const server: Server = createServer((client) => {
    if (partitioned) { client.resetAndDestroy(); return; }
    const t = target();
    const upstream = connect(t.port, t.host);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const close = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, listenHost, () => resolve((server.address() as { port: number }).port));
  });
  const dropAll = () => {
    for (const [a, b] of [...pairs]) {
      a.resetAndDestroy();
      b.destroy();
    }
    pairs.clear();
  };
  return {
    port,
    url: (scheme) => `${scheme}://${listenHost}:${port}`,
    get partitioned() { return partitioned; },
    partition: () => { partitioned = true; dropAll(); },
    heal: () => { partitioned = false; },
    stop: () => new Promise<void>((resolve) => { dropAll(); server.close(() => resolve()); }),
  };
}
