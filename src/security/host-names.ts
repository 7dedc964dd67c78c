/**
 * The one grammar for host names, shared by the Host header check and
 * ALLOWED_HOSTS: a DNS name or IPv4 address, or a bracketed IPv6 address,
 * with an optional port. Anything else (user info, a path, spaces, an empty
 * name) is not a host.
 */

export interface HostName {
  /** Lower-case; an IPv6 address keeps its brackets. */
  name: string;
  /** null when none is written. */
  port: number | null;
}

const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?\.?)(?::(\d{1,5}))?$/i;

export function splitHost(text: string): HostName | null {
  const m = HOST.exec(text.trim());
  if (!m) return null;
  const port = m[2] === undefined ? null : Number(m[2]);
  if (port !== null && (port < 1 || port > 65535)) return null;
  return { name: m[1].toLowerCase(), port };
}
