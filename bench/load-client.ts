/**
 * A small HTTP/1.1 load generator for the benchmarks: N keep-alive
 * connections, each sending its next request as soon as the previous response
 * is complete (closed loop), with per-request latency. Raw sockets and one
 * prebuilt request per connection keep the client's own cost low, so on a
 * shared machine the server, not the client, is what gets measured.
 */
import { connect, type Socket } from 'node:net';

export interface LoadOptions {
  host: string;
  port: number;
  /** One prebuilt request per connection (the body may differ per connection, e.g. its own session). */
  requests: Buffer[];
  /** Measured time, after warm-up. */
  durationMs: number;
  warmupMs: number;
  /** Called when the measured time begins and when it ends (e.g. to read the servers' CPU time). */
  onMeasure?: (phase: 'start' | 'end') => void;
}

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Bytes of response bodies received, for sanity. */
  bodyBytes: number;
}

/** Builds a request with a JSON body. */
export function jsonRequest(method: string, path: string, body: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(body));
  const head = `${method} ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\nConnection: keep-alive\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), payload]);
}

const HEADER_END = Buffer.from('\r\n\r\n');

export function runLoad(opts: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const latencies: number[] = [];
    let errors = 0;
    let bodyBytes = 0;
    let measuring = false;
    let stopped = false;
    let open = 0;
    const sockets: Socket[] = [];
    const t0 = performance.now();
    let tMeasure = 0;
    let tEnd = 0;

    const finish = () => {
      if (open > 0) return;
      latencies.sort((a, b) => a - b);
      const seconds = (tEnd - tMeasure) / 1000;
      const at = (q: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : NaN);
      resolve({ requests: latencies.length, errors, seconds, perSecond: latencies.length / seconds, p50Ms: at(0.5), p99Ms: at(0.99), bodyBytes });
    };

    for (const request of opts.requests) {
      const sock = connect(opts.port, opts.host);
      sock.setNoDelay(true);
      sockets.push(sock);
      open++;
      let buf: Buffer = Buffer.alloc(0);
      let sentAt = 0;
      const send = () => {
        if (stopped) {
          sock.end();
          return;
        }
        sentAt = performance.now();
        sock.write(request);
      };
      sock.on('connect', send);
      sock.on('data', (chunk: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        for (;;) {
          const end = buf.indexOf(HEADER_END);
          if (end < 0) return;
          const head = buf.subarray(0, end).toString('latin1');
          const m = /content-length:\s*(\d+)/i.exec(head);
          const len = m ? Number(m[1]) : 0;
          const total = end + 4 + len;
          if (buf.length < total) return;
          const ok = head.startsWith('HTTP/1.1 2');
          buf = buf.subarray(total);
          const now = performance.now();
          if (measuring) {
            if (ok) latencies.push(now - sentAt);
            else errors++;
            bodyBytes += len;
          }
          send();
        }
      });
      sock.on('error', (e) => {
        stopped = true;
        reject(e);
      });
      sock.on('close', () => {
        open--;
        finish();
      });
    }

    setTimeout(() => {
      measuring = true;
      tMeasure = performance.now();
      opts.onMeasure?.('start');
    }, opts.warmupMs);
    setTimeout(() => {
      measuring = false;
      stopped = true;
      tEnd = performance.now();
      opts.onMeasure?.('end');
      void t0;
    }, opts.warmupMs + opts.durationMs);
  });
}
