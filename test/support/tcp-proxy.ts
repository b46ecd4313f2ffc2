/**
 * A TCP proxy on 127.0.0.1 in front of a real server (dynalite), to make DynamoDB unreachable on
 * demand: `down` refuses connections and cuts open ones; `dropResponses(n)` lets the next n
 * requests reach the server but cuts the connection before their answers come back (a write that
 * happened although the caller saw an error).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private up = true;
  private stalled = false;
  private toDrop = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(target: string): Promise<TcpProxy> {
    const { hostname, port } = new URL(target);
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => proxy?.handle(client, hostname, Number(port)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    if (typeof addr !== 'object' || !addr) throw new Error('proxy did not bind');
    proxy = new TcpProxy(server, `http://127.0.0.1:${addr.port}`);
    return proxy;
  }

  down(): void {
    this.up = false;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.up = true;
    this.stalled = false;
    this.toDrop = 0;
  }

  /** Connections are accepted but nothing ever comes back (a hung DynamoDB). */
  stall(): void {
    this.stalled = true;
    for (const s of this.sockets) s.destroy();
  }

  /** The next `n` answers from the server are lost (the connection is cut instead). */
  dropResponses(n: number): void {
    this.toDrop = n;
  }

  private handle(client: Socket, host: string, port: number): void {
    if (!this.up) {
      client.destroy();
      return;
    }
    if (this.stalled) {
      this.sockets.add(client);
      client.on('data', () => {});
      client.on('error', () => {}).on('close', () => this.sockets.delete(client));
      return;
    }
    const upstream = connect(port, host);
    this.sockets.add(client).add(upstream);
    const cleanup = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => {
      if (this.toDrop > 0) {
        this.toDrop--;
        cleanup();
        return;
      }
      client.write(d);
    });
    client.on('error', cleanup).on('close', cleanup);
    upstream.on('error', cleanup).on('close', cleanup);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
