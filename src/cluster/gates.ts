/**
 * Per session, the requests this node is serving for it now (HTTP requests
 * until their reply is out, WebSockets until they close), and a gate that a
 * move shuts: requests arriving for a moving session wait at the gate, then
 * find the session where it went. A move starts once the session's count
 * is down to zero, so nothing runs on a copy being shipped.
 */
export class SessionGates {
  private readonly active = new Map<string, number>();
  private readonly shut = new Map<string, { opened: Promise<void>; open: () => void }>();
  private readonly idleWaiters = new Map<string, (() => void)[]>();

  /** The gate's opening if it is shut now; null if requests may go on. */
  waiting(id: string): Promise<void> | null {
    return this.shut.get(id)?.opened ?? null;
  }

  /**
   * Runs `run` once the gate of `id` is open, in the turn whose check found
   * it open: what `run` checks and counts with enter() is done before a move
   * can shut the gate and wait for what was counted (an await between the
   * check and the count would let one start in between).
   */
  async whenOpen<T>(id: string, run: () => T): Promise<T> {
    for (let wait = this.waiting(id); wait !== null; wait = this.waiting(id)) await wait;
    return run();
  }

  /** One more request served here for `id`; the returned function ends it (once). */
  enter(id: string): () => void {
    this.active.set(id, (this.active.get(id) ?? 0) + 1);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const n = (this.active.get(id) ?? 1) - 1;
      if (n > 0) {
        this.active.set(id, n);
        return;
      }
      this.active.delete(id);
      const waiters = this.idleWaiters.get(id);
      this.idleWaiters.delete(id);
      for (const w of waiters ?? []) w();
    };
  }

  /** Shuts the gate of `id`: later requests wait until reopen(). */
  close(id: string): void {
    if (this.shut.has(id)) return;
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    this.shut.set(id, { opened, open });
  }

  reopen(id: string): void {
    const g = this.shut.get(id);
    this.shut.delete(id);
    g?.open();
  }

  /** Resolves true once no request for `id` is being served here, false if that takes longer than `timeoutMs`. */
  idle(id: string, timeoutMs: number): Promise<boolean> {
    if (!this.active.has(id)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      const list = this.idleWaiters.get(id) ?? [];
      list.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
      this.idleWaiters.set(id, list);
    });
  }
}
