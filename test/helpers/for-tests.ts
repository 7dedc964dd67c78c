/** What the tests of one file or describe block share. */
import { after, before } from 'node:test';

/**
 * Something the tests of the calling describe block (or file) share, an app
 * or a server: made before them, closed after them (`close`, by default its
 * close()). The function returned gives it.
 */
export function forTests<T>(make: () => Promise<T>, close: (made: T) => unknown = (made) => (made as { close(): unknown }).close()): () => T {
  let made: T | undefined;
  before(async () => {
    made = await make();
  });
  after(async () => {
    if (made !== undefined) await close(made);
  });
  return () => {
    if (made === undefined) throw new Error('used before the tests started');
    return made;
  };
}
