/**
 * A TCP proxy on 127.0.0.1 that forwards every connection to the S3 server and counts the bytes
 * each way, so the write benchmark can say how much a tool sent to the server for one workload
 * (the edit of 1 MiB inside a large object). A tool mounted with its endpoint pointed here talks
 * plain HTTP to MinIO through it; SigV4 still verifies, because the Host header the tool signs is
 * the one MinIO receives.
 *
 * The counts are of TCP payload (HTTP headers and bodies), from the moment of reset() on, over
 * every connection (also those opened before reset, such as kept-alive ones).
 */
import net from 'node:net';

export interface ByteCounts {
  /** client -> server bytes (what the tool sent) */
  sent: number;
  /** server -> client bytes */
  received: number;
  /** connections accepted since reset() */
  connections: number;
}

export class ByteProxy {
  private counts: ByteCounts = { sent: 0, received: 0, connections: 0 };
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static start(targetHost: string, targetPort: number): Promise<ByteProxy> {
    return new Promise((resolve, reject) => {
      let proxy: ByteProxy | undefined;
      const server = net.createServer((client) => {
        const p = proxy!;
        p.counts.connections++;
        const upstream = net.connect(targetPort, targetHost);
        p.sockets.add(client);
        p.sockets.add(upstream);
        client.setNoDelay(true);
        upstream.setNoDelay(true);
        client.on('data', (d: Buffer) => {
          p.counts.sent += d.length;
          if (!upstream.write(d)) client.pause();
        });
        upstream.on('drain', () => client.resume());
        upstream.on('data', (d: Buffer) => {
          p.counts.received += d.length;
          if (!client.write(d)) upstream.pause();
        });
        client.on('drain', () => upstream.resume());
        const close = () => {
          client.destroy();
          upstream.destroy();
          p.sockets.delete(client);
          p.sockets.delete(upstream);
        };
        client.on('end', () => upstream.end());
        upstream.on('end', () => client.end());
        client.on('error', close);
        upstream.on('error', close);
        client.on('close', close);
        upstream.on('close', close);
      });
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const a = server.address();
        if (!a || typeof a !== 'object') return reject(new Error('byte proxy: no port'));
        proxy = new ByteProxy(server, a.port);
        resolve(proxy);
      });
    });
  }

  reset(): void {
    this.counts = { sent: 0, received: 0, connections: 0 };
  }

  read(): ByteCounts {
    return { ...this.counts };
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    return new Promise((r) => this.server.close(() => r()));
  }
}
