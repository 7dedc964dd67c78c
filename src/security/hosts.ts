/**
 * Which names the server answers to (the Host header), against DNS
 * rebinding: a page on a name its attacker controls, once that name resolves
 * to 127.0.0.1, is same-origin with this server as far as the browser knows,
 * and its requests carry the attacker's name as Host. Without API keys only
 * loopback names and ALLOWED_HOSTS are served. With keys such a page cannot
 * present one (the browser holds none for that name), so the Host is checked
 * only when ALLOWED_HOSTS is set. A request without a Host header is not from
 * a browser and is not refused for it.
 */
import { isLoopback } from '../config.js';
import { SpikeserveError } from '../errors.js';
import { splitHost, type HostName } from './host-names.js';

export class HostPolicy {
  private readonly checked: boolean;
  private readonly allowed: HostName[];
  /** The last Host header allowed: clients send the same one on every request, and it need not be parsed again. */
  private lastAllowed: string | null = null;

  /** `allowed`: ALLOWED_HOSTS (already validated); `keys`: whether API_KEYS is set. */
  constructor(allowed: readonly string[], keys: boolean) {
    this.checked = !allowed.includes('*') && (!keys || allowed.length > 0);
    this.allowed = allowed.filter((h) => h !== '*').map((h) => splitHost(h)).filter((h): h is HostName => h !== null);
  }

  allows(host: string | undefined): boolean {
    if (!this.checked || host === undefined || host === this.lastAllowed) return true;
    const h = splitHost(host);
    if (h === null) return false;
    if (!isLoopback(h.name) && !this.allowed.some((a) => a.name === h.name && (a.port === null || a.port === h.port))) return false;
    this.lastAllowed = host;
    return true;
  }

  /** Throws HOST_NOT_ALLOWED unless `allows(host)`. */
  check(host: string | undefined): void {
    if (this.allows(host)) return;
    const shown = JSON.stringify(String(host).slice(0, 100));
    throw new SpikeserveError(
      'HOST_NOT_ALLOWED',
      `this server does not answer to the host name ${shown}: it serves loopback names (localhost, 127.0.0.1, [::1]) and those in ALLOWED_HOSTS; if clients reach it by this name, add the name to ALLOWED_HOSTS`,
      { host: String(host).slice(0, 100) },
    );
  }
}
