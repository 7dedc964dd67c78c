/**
 * Which browser origins may use the API from another origin (CORS_ORIGINS),
 * for HTTP (CORS) and for WebSocket upgrades (which browsers send from any
 * page, with the page's Origin, and which CORS does not protect).
 */
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
   * For a WebSocket upgrade: no Origin (not a browser), the server's own
   * origin (a page it served, such as the dashboard), or a listed one.
   */
  allowsUpgrade(origin: string | undefined, host: string | undefined): boolean {
    if (origin === undefined) return true;
    if (this.allows(origin)) return true;
    if (host === undefined) return false;
    try {
      return new URL(origin).host === host;
    } catch {
      return false;
    }
  }
}
