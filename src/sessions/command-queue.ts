/**
 * Runs one session's commands one at a time, in arrival order. A long step
 * yields the event loop between slices; without this queue a second request
 * on the same session could run in one of those gaps and interleave with it.
 *
 * When nothing is queued a command runs at once, synchronously: the common
 * case (one client, one request at a time) pays no extra turn of the loop.
 */
export class CommandQueue {
  private tail: Promise<void> = Promise.resolve();
  private active = 0;

  /** Commands queued or running. */
  get size(): number {
    return this.active;
  }

  run<T>(task: () => T | Promise<T>): Promise<T> {
    if (this.active === 0) {
      let out: T | Promise<T>;
      try {
        out = task();
      } catch (e) {
        return Promise.reject(e);
      }
      if (!(out instanceof Promise)) return Promise.resolve(out);
      return this.track(out);
    }
    return this.track(this.tail.then(task));
  }

  /** Resolves once every command queued so far has finished. */
  drained(): Promise<void> {
    return this.tail;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.active++;
    const done = () => {
      this.active--;
    };
    this.tail = p.then(done, done);
    return p;
  }
}
