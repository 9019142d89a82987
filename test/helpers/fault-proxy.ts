/**
 * A small HTTP proxy on 127.0.0.1 in front of an S3 server (MinIO) that injects faults, for the
 * retry tests of the S3 store:
 *
 *   const proxy = await startFaultProxy(minio.endpoint);
 *   proxy.inject({ fault: 'status', status: 503, times: 2 });           // 503 SlowDown twice
 *   proxy.inject({ fault: 'reset', times: 1, match: (r) => r.method === 'GET' });
 *   ... an S3Store with endpoint: proxy.endpoint ...
 *   proxy.stats.requests, proxy.stats.faults
 *   await proxy.close();
 *
 * Faults (each rule fires for its next `times` matching requests; Infinity for ever; rules are
 * checked in the order they were added, the first one with firings left wins):
 *   status  answer `status` at once with an S3 XML error body (code: 500 InternalError,
 *           503 SlowDown, others "InjectedFault" unless given); the request is not forwarded.
 *   reset   forward the request, then destroy the client's socket in the middle of the response:
 *           after the headers and half of the body, or before anything is sent when the response
 *           has no body (the server did the work -- a PUT is stored -- and the answer is lost).
 *   hang    read the request and never answer (until close()).
 * Requests no rule fires for are forwarded unchanged (Host header included: SigV4 signs it, and
 * the client signed the proxy's address, which MinIO verifies as received).
 *
 * Ownership: all state (rules, counters, open sockets) belongs to the FaultProxy instance;
 * single JS thread, no locking. close() destroys every socket it holds, hung ones included.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ProxiedRequest {
  method: string;
  /** Path and query, e.g. "/bucket/key?uploadId=..." */
  url: string;
  headers: IncomingMessage['headers'];
}

export type FaultRule =
  | { fault: 'status'; status: number; code?: string; times: number; match?: (r: ProxiedRequest) => boolean }
  | { fault: 'reset'; times: number; match?: (r: ProxiedRequest) => boolean }
  | { fault: 'hang'; times: number; match?: (r: ProxiedRequest) => boolean };

export interface ProxyStats {
  /** Every request received, faulted or not. */
  requests: number;
  /** Requests that got a fault. */
  faults: number;
  /** Method + path of every request, in arrival order. */
  log: { method: string; url: string; fault: FaultRule['fault'] | undefined }[];
}

export interface FaultProxy {
  readonly endpoint: string;
  readonly stats: ProxyStats;
  /** Add a rule; the returned function removes it. */
  inject(rule: FaultRule): () => void;
  /** Remove every rule. */
  clear(): void;
  /** Requests received so far that match. */
  count(match?: (r: ProxiedRequest) => boolean): number;
  close(): Promise<void>;
}

const DEFAULT_CODES: Record<number, string> = { 500: 'InternalError', 503: 'SlowDown', 429: 'TooManyRequests' };

interface LiveRule {
  rule: FaultRule;
  left: number;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const rules: LiveRule[] = [];
  const sockets = new Set<Socket>();
  const seen: ProxiedRequest[] = [];
  const stats: ProxyStats = { requests: 0, faults: 0, log: [] };

  const pick = (r: ProxiedRequest): FaultRule | undefined => {
    for (const lr of rules) {
      if (lr.left <= 0) continue;
      if (lr.rule.match !== undefined && !lr.rule.match(r)) continue;
      lr.left--;
      return lr.rule;
    }
    return undefined;
  };

  const answerStatus = (req: IncomingMessage, res: ServerResponse, status: number, code: string): void => {
    req.resume();
    const body =
      req.method === 'HEAD'
        ? ''
        : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>injected fault</Message><Resource>${escapeXml(req.url ?? '')}</Resource><RequestId>fault-proxy</RequestId></Error>`;
    res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const forward = (req: IncomingMessage, res: ServerResponse, reset: boolean): void => {
    const up = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent: false },
      (upRes) => {
        if (!reset) {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
          return;
        }
        const length = Number(upRes.headers['content-length'] ?? '0');
        if (!(length > 0) || req.method === 'HEAD') {
          upRes.resume();
          req.socket.destroy();
          return;
        }
        // Headers and half of the body, then the connection dies.
        const half = Math.max(1, Math.floor(length / 2));
        let sent = 0;
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.on('data', (chunk: Buffer) => {
          if (sent >= half) return;
          const part = chunk.subarray(0, half - sent);
          sent += part.length;
          res.write(part);
          if (sent >= half) {
            upRes.destroy();
            // Let the bytes written so far reach the client before the reset.
            setImmediate(() => req.socket.destroy());
          }
        });
      },
    );
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  };

  const server: Server = createServer((req, res) => {
    const r: ProxiedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers };
    stats.requests++;
    seen.push(r);
    const rule = pick(r);
    stats.log.push({ method: r.method, url: r.url, fault: rule?.fault });
    if (rule !== undefined) stats.faults++;
    if (rule === undefined) return forward(req, res, false);
    switch (rule.fault) {
      case 'status':
        return answerStatus(req, res, rule.status, rule.code ?? DEFAULT_CODES[rule.status] ?? 'InjectedFault');
      case 'reset':
        return forward(req, res, true);
      case 'hang':
        req.resume(); // read the body, never answer
        return;
    }
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('clientError', (_e, s) => s.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    inject(rule: FaultRule): () => void {
      const lr: LiveRule = { rule, left: rule.times };
      rules.push(lr);
      return () => {
        const i = rules.indexOf(lr);
        if (i >= 0) rules.splice(i, 1);
      };
    },
    clear(): void {
      rules.length = 0;
    },
    count(match?: (r: ProxiedRequest) => boolean): number {
      return match === undefined ? seen.length : seen.filter(match).length;
    },
    async close(): Promise<void> {
      rules.length = 0;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
