/**
 * Which browser origins may use the API from another origin (CORS_ORIGINS),
 * for HTTP (CORS), for requests that change something (which browsers send
 * cross-origin without asking first when they carry no custom header), and
 * for WebSocket upgrades (which browsers send from any page, with the page's
 * Origin, and which CORS does not protect).
 */
import { splitHost } from './host-names.js';

export class OriginPolicy {
  private readonly any: boolean;
  private readonly allowed: Set<string>;

  constructor(origins: readonly string[]) {
    this.any = origins.includes('*');
    this.allowed = new Set(origins.filter((o) => o !== '*'));
  }

  /** Listed in CORS_ORIGINS (or * is). */
  allows(origin: string): boolean {
    return this.any || this.allowed.has(origin);
  }

  /**
   * For a request that changes something, or a WebSocket upgrade: no Origin
   * (not a browser), the server's own origin, scheme included (a page it
   * served, such as the dashboard), or a listed one. `scheme` and `host` are
   * the request's own ('http' or 'https', and its Host header).
   */
  allowsRequest(origin: string | undefined, host: string | undefined, scheme: 'http' | 'https'): boolean {
    if (origin === undefined) return true;
    if (this.allows(origin)) return true;
    if (host === undefined || splitHost(host) === null) return false;
    try {
      return new URL(origin).origin === new URL(`${scheme}://${host}`).origin;
    } catch {
      return false;
    }
  }
}
