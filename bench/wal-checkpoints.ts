/**
 * What one call holds the event loop for while a 32 MB snapshot is written
 * in parts (a part per turn, as the server writes them), then its parts
 * deleted (as garbage is): the slowest calls, with SQLite's own WAL
 * checkpoint bound (1000 pages, what the server runs with) and with 128
 * pages (512 KiB), alternately. A commit that takes the WAL past the bound checkpoints it
 * into the database file, in that call; the WAL file's size is the most it
 * held between two checkpoints. On the disk under the system's temporary
 * directory, PERSIST_SYNC=normal unless `full` is given.
 *
 *   npm run build --silent && node dist/bench/wal-checkpoints.js [full]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { PART_BYTES } from '../src/persist/parts.js';
import { Store } from '../src/persist/store.js';

const BLOB_BYTES = 32 * 1024 * 1024;
const ROUNDS = 3;

async function run(pagesBound: number, sync: 'normal' | 'full'): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'spikeserve-checkpoints-'));
  const store = Store.open(dir, sync);
  store.handle.pragma(`wal_autocheckpoint = ${pagesBound}`);
  const pieces = function* () {
    for (let at = 0; at < BLOB_BYTES; at += PART_BYTES) yield Buffer.alloc(PART_BYTES, at & 255);
  };
  const holds: number[] = [];
  const t0 = performance.now();
  for (let round = 0; round < ROUNDS; round++) {
    const writing = store.writeParts(pieces());
    for (;;) {
      const t = performance.now();
      const r = writing.next();
      holds.push(performance.now() - t);
      if (r.done) {
        store.discardParts(r.value);
        break;
      }
      await nextTurn();
    }
    for (;;) {
      const t = performance.now();
      const more = store.collectGarbage();
      holds.push(performance.now() - t);
      if (!more) break;
      await nextTurn();
    }
  }
  const total = performance.now() - t0;
  const walBytes = statSync(join(dir, 'spikeserve.db-wal')).size;
  const pages = store.handle.pragma('wal_autocheckpoint', { simple: true }) as number;
  store.close();
  rmSync(dir, { recursive: true, force: true });
  holds.sort((a, b) => b - a);
  const ms = (x: number) => x.toFixed(1);
  console.log(
    `WAL checkpoint past ${pages} pages, sync ${sync}: slowest calls ${holds.slice(0, 5).map(ms).join(', ')} ms; ` +
      `median ${ms(holds[holds.length >> 1])} ms; ${ROUNDS} x 32 MB in ${total.toFixed(0)} ms; WAL file ${(walBytes / 1024).toFixed(0)} KiB`,
  );
}

async function main(): Promise<void> {
  const sync = process.argv[2] === 'full' ? 'full' : 'normal';
  for (let i = 0; i < 2; i++) {
    await run(1000, sync);
    await run(128, sync);
  }
}

await main();
