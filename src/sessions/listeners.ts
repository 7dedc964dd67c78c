/**
 * Listeners by event, as the session manager and each session keep them: a
 * listener that throws is reported to `onError`, and the others still run.
 */
export class Listeners<Events extends Record<keyof Events, (...args: never[]) => void>> {
  private readonly sets: { [E in keyof Events]?: Set<Events[E]> } = {};

  constructor(private readonly onError: (error: unknown, event: keyof Events) => void) {}

  /** Adds a listener; the function returned removes it. */
  on<E extends keyof Events>(event: E, listener: Events[E]): () => void {
    let set = this.sets[event];
    if (set === undefined) {
      set = new Set();
      this.sets[event] = set;
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Whether anything listens to `event`, so that an event nobody hears need not be built. */
  has(event: keyof Events): boolean {
    return (this.sets[event]?.size ?? 0) > 0;
  }

  emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): void {
    const set = this.sets[event];
    if (set === undefined) return;
    for (const l of set) {
      try {
        (l as (...a: Parameters<Events[E]>) => void)(...args);
      } catch (error) {
        this.onError(error, event);
      }
    }
  }

  /** Removes every listener. */
  clear(): void {
    for (const set of Object.values<Set<unknown> | undefined>(this.sets)) set?.clear();
  }
}
