/**
 * A WebSocket upgrade for a session owned by another node goes to that node
 * as it came (the same request line and headers, the bytes already read
 * after them), and from then on the two TCP streams are joined: frames pass
 * through untouched, and the owner runs every check (ticket or key, origin,
 * role) as if the client had come to it directly.
 */
import { connect, type Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { HOPS_HEADER } from './forward.js';

export function proxyUpgrade(req: IncomingMessage, client: Duplex, head: Buffer, origin: string, hops: number, onFail: (e: Error) => void): void {
  const target = new URL(origin);
  const upstream: Socket = connect({ host: target.hostname, port: Number(target.port || 80) });
  let joined = false;
  upstream.once('connect', () => {
    joined = true;
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (req.rawHeaders[i].toLowerCase() !== HOPS_HEADER) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    }
    lines.push(`${HOPS_HEADER}: ${hops + 1}`);
    upstream.write(lines.join('\r\n') + '\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    upstream.setNoDelay(true);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  upstream.on('error', (e) => {
    if (!joined) onFail(e);
    else client.destroy();
  });
  client.on('error', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  client.on('close', () => upstream.destroy());
}
