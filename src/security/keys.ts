/**
 * Checks API keys. Each presented secret is hashed and compared with every
 * configured key's hash by timingSafeEqual, all of them every time: the time
 * taken says nothing about how close a guess was, or which key matched.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiKey } from '../config.js';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export class KeyRing {
  private readonly keys: { id: string; hash: Buffer }[];

  constructor(keys: readonly ApiKey[]) {
    this.keys = keys.map((k) => ({ id: k.id, hash: digest(k.secret) }));
  }

  /** True when keys are configured (authentication is on). */
  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** The id of the key whose secret this is, or null. */
  identify(secret: string): string | null {
    const h = digest(secret);
    let found: string | null = null;
    for (const k of this.keys) {
      if (timingSafeEqual(h, k.hash) && found === null) found = k.id;
    }
    return found;
  }

  /**
   * Reads `Authorization: Bearer <secret>`. Returns the key id, or why not:
   * 'missing' (no usable header) or 'invalid' (not a configured key).
   */
  authenticate(header: string | undefined): { id: string } | { error: 'missing' | 'invalid' } {
    if (header === undefined) return { error: 'missing' };
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!m) return { error: 'missing' };
    const id = this.identify(m[1]);
    return id === null ? { error: 'invalid' } : { id };
  }
}
