/**
 * The tail file (spikeserve.db-tail): steps and rewards are durable once
 * their frame is written there, a restart after a crash reads them back
 * exactly, a frame cut short or damaged at the end is reported and the
 * frames before it still count, rows already moved into the database are not
 * applied twice, and the file is emptied into the database past its bound.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { SpikeserveError } from '../src/errors.js';
import { openDataDir } from '../src/persist/open.js';
import { TAIL_SUFFIX } from '../src/persist/schema.js';
import { Store, type StoreOptions } from '../src/persist/store.js';
import { encodeFrame, parseFrames, type StoredRow } from '../src/persist/tail-file.js';
import type { SessionManager } from '../src/sessions/manager.js';
import { persistManager } from './helpers/manager.js';
import type { Session } from '../src/sessions/session.js';

const NET = {
  dt: 0.1,
  populations: { pre: { n: 4, refrac_length: 2 }, post: { n: 3, refrac_length: 0 } },
  connections: {
    pp: { pre: 'pre', post: 'post', w_min: -1, w_max: 8, rule: { type: 'MSTDP', lr: [0.003, 0.002] } },
  },
};

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'spikeserve-tail-'));
}

function manager(store: Store): SessionManager {
  return persistManager({ store });
}

/** A data directory with one saved session of NET. */
async function started(seed: number, sync: 'normal' | 'full' = 'normal', options?: StoreOptions): Promise<{ dir: string; store: Store; m1: SessionManager; s: Session }> {
  const dir = tmp();
  const store = Store.open(dir, sync, options);
  const m1 = manager(store);
  const s = m1.create({ network: NET, seed });
  await s.persisted();
  return { dir, store, m1, s };
}

const tailOf = (dir: string) => join(dir, 'spikeserve.db' + TAIL_SUFFIX);

function logRows(dir: string): number {
  const db = new Database(join(dir, 'spikeserve.db'), { readonly: true });
  try {
    return db.prepare('SELECT count(*) FROM log').pluck().get() as number;
  } finally {
    db.close();
  }
}

/** A session created and saved, then `n` one-step commands, each its own commit; the snapshot after each. */
async function stepOneByOne(s: Session, n: number): Promise<unknown[]> {
  const after: unknown[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 3 === 2) await s.reward(0.25 * i);
    else await s.step({ inputs: { pre: [100, i % 2 ? 0 : 90, 40, 7 * i] }, ...(i % 3 === 1 ? { deferReward: true } : { reward: (i % 5) - 2 }) });
    after.push(await s.snapshot());
  }
  return after;
}

/** Leaves the files as a crash would: rows in the tail file, none moved into the database. */
function crash(store: Store): void {
  store.close({ spill: false });
}

function restart(dir: string): { m: SessionManager; store: Store; tailDamage: string | null } {
  const opened = openDataDir(dir, 'normal');
  const store = opened.store;
  const m = manager(store);
  const report = m.restore(opened.loaded);
  assert.deepEqual(report.damaged, []);
  return { m, store, tailDamage: opened.tailDamage };
}

describe('the tail file', () => {
  test('frames round-trip rows with text and binary payloads', () => {
    const rows: StoredRow[] = [
      { id: 1, session: 3, seq: 1, kind: 1, payload: '{"steps":1,"inputs":{"pre":[1,2]}}', crc: null },
      { id: 2 ** 40 + 2 ** 33 + 5, session: 2 ** 31, seq: 2 ** 45 + 3, kind: 0, payload: Buffer.from([0, 255, 7]), crc: null },
      { id: 5, session: 1, seq: 9, kind: 2, payload: 'é ✓', crc: null },
    ];
    const buf = Buffer.concat([encodeFrame(rows.slice(0, 2)), encodeFrame(rows.slice(2))]);
    const parsed = parseFrames(buf);
    assert.equal(parsed.end, buf.length);
    assert.deepEqual(parsed.rows, rows);
    // Cut anywhere inside the second frame: the first still reads, and where it ends is known.
    for (const cut of [buf.length - 1, encodeFrame(rows.slice(0, 2)).length + 3]) {
      const p = parseFrames(buf.subarray(0, cut));
      assert.deepEqual(p.rows, rows.slice(0, 2));
      assert.equal(p.end, encodeFrame(rows.slice(0, 2)).length);
    }
  });

  test('steps are durable in the tail file before they reach the database, and come back exactly after a crash', async () => {
    const { dir, store, s } = await started(4);
    const after = await stepOneByOne(s, 12);
    assert.ok(statSync(tailOf(dir)).size > 0, 'the commands are in the tail file');
    crash(store);
    assert.equal(logRows(dir), 0, 'and not yet in the database');

    const { m, store: store2, tailDamage } = restart(dir);
    assert.equal(tailDamage, null);
    assert.deepEqual(await m.get(s.id).snapshot(), after.at(-1));
    // It goes on from there, and a clean stop moves the rows into the database and empties the file.
    await m.get(s.id).step({ steps: 3, inputs: { pre: 100 } });
    const final = await m.get(s.id).snapshot();
    await m.close({ snapshotDeadline: -Infinity });
    assert.equal(store2.open, false);
    assert.equal(statSync(tailOf(dir)).size, 0);
    assert.ok(logRows(dir) > 0);
    const again = restart(dir);
    assert.deepEqual(await again.m.get(s.id).snapshot(), final);
    await again.m.close();
  });

  test('a last frame cut short by a crash is reported, kept aside, and every command before it comes back', async () => {
    const { dir, store, s } = await started(5);
    const after = await stepOneByOne(s, 6);
    crash(store);
    const size = statSync(tailOf(dir)).size;
    truncateSync(tailOf(dir), size - 5);

    const { m, tailDamage } = restart(dir);
    assert.match(tailDamage ?? '', /the last \d+ of its \d+ bytes are a record cut short and were ignored/);
    assert.deepEqual(await m.get(s.id).snapshot(), after.at(-2), 'at the command before the cut one');
    const kept = readdirSync(dir).filter((f) => f.includes('-tail.damaged-'));
    assert.equal(kept.length, 1, 'the damaged file is kept');
    assert.equal(statSync(join(dir, kept[0])).size, size - 5);
    // Cut back to its whole frames, so what follows is readable.
    await m.get(s.id).step({ inputs: { pre: 100 } });
    const final = await m.get(s.id).snapshot();
    await m.close({ snapshotDeadline: -Infinity });
    const again = restart(dir);
    assert.equal(again.tailDamage, null);
    assert.deepEqual(await again.m.get(s.id).snapshot(), final);
    await again.m.close();
  });

  test('a damaged frame is reported and nothing after it is applied', async () => {
    const { dir, store, s } = await started(6);
    const after = await stepOneByOne(s, 4);
    crash(store);
    const buf = readFileSync(tailOf(dir));
    const frames: number[] = [];
    for (let at = 0; at < buf.length; at += 8 + buf.readUInt32LE(at)) frames.push(at);
    assert.equal(frames.length, 4, 'one frame per command');
    buf[frames[2] + 20] ^= 0x10;
    writeFileSync(tailOf(dir), buf);

    const { m, tailDamage } = restart(dir);
    assert.match(tailDamage ?? '', /fail their checksum/);
    assert.deepEqual(await m.get(s.id).snapshot(), after[1]);
    await m.close();
  });

  test('a flipped bit early in the file loses only its own frame: other sessions\' later frames still apply, and the session that lost one stays where it was consistent, reported', async () => {
    const { dir, store, m1, s: a } = await started(8);
    const b = m1.create({ network: NET, seed: 9 });
    await b.persisted();
    const afterA: unknown[] = [];
    const afterB: unknown[] = [];
    // Interleaved, one commit each: a1 b1 a2 b2 a3 b3 a4 b4.
    for (let i = 0; i < 4; i++) {
      await a.step({ inputs: { pre: [100, 20 * i, 40, 7] }, reward: i - 1 });
      afterA.push(await a.snapshot());
      await b.step({ inputs: { pre: [90, 0, 10 * i, 50] }, reward: 0.5 - i });
      afterB.push(await b.snapshot());
    }
    crash(store);
    const buf = readFileSync(tailOf(dir));
    const frames: number[] = [];
    for (let at = 0; at < buf.length; at += 8 + buf.readUInt32LE(at)) frames.push(at);
    assert.equal(frames.length, 8, 'one frame per command');
    // a2's frame: its checksum fails.
    buf[frames[2] + 20] ^= 0x04;
    writeFileSync(tailOf(dir), buf);

    const opened = openDataDir(dir, 'normal');
    assert.match(opened.tailDamage ?? '', /bytes at offset \d+ fail their checksum and were skipped/);
    assert.deepEqual(opened.loaded.tailLosses, [
      { id: a.id, reason: 'its commands from 2 on were in a damaged stretch of the tail file: restored as of command 1, its later ones (from 3) not applied' },
    ]);
    const m = manager(opened.store);
    assert.deepEqual(m.restore(opened.loaded).damaged, []);
    assert.deepEqual(await m.get(b.id).snapshot(), afterB[3], 'every command of the other session is restored');
    assert.deepEqual(await m.get(a.id).snapshot(), afterA[0], 'the session that lost a command stays at the one before it');
    // The damaged stretch and the rows not applied are gone from the file: the session's new commands follow on.
    await m.get(a.id).step({ inputs: { pre: 100 } });
    const finalA = await m.get(a.id).snapshot();
    crash(opened.store);
    const again = restart(dir);
    assert.equal(again.tailDamage, null);
    assert.deepEqual(await again.m.get(a.id).snapshot(), finalA);
    assert.deepEqual(await again.m.get(b.id).snapshot(), afterB[3]);
    await again.m.close();
  });

  test('rows already moved into the database are not applied twice (a stop between moving them and emptying the file)', async () => {
    const { dir, m1, s } = await started(7);
    const after = await stepOneByOne(s, 5);
    copyFileSync(tailOf(dir), `${tailOf(dir)}.before`);
    await m1.close({ snapshotDeadline: -Infinity });
    assert.equal(logRows(dir), 5);
    copyFileSync(`${tailOf(dir)}.before`, tailOf(dir));

    const { m, tailDamage } = restart(dir);
    assert.equal(tailDamage, null);
    assert.deepEqual(await m.get(s.id).snapshot(), after.at(-1));
    await m.close();
  });

  test('past its bound the file is emptied into the database, in one transaction, while the service runs', async () => {
    const { dir, store, s } = await started(8, 'normal', { tailLimitBytes: 600 });
    let maxTail = 0;
    let after: unknown[] = [];
    for (let i = 0; i < 8; i++) {
      after = await stepOneByOne(s, 5);
      maxTail = Math.max(maxTail, statSync(tailOf(dir)).size);
    }
    assert.ok(store.tailRows < 40, `rows moved into the database (${store.tailRows} left in the file)`);
    assert.ok(maxTail < 2000, `the file stays near its bound (${maxTail} bytes at most)`);
    crash(store);
    assert.ok(logRows(dir) > 0);
    const { m } = restart(dir);
    assert.deepEqual(await m.get(s.id).snapshot(), after.at(-1));
    await m.close();
  });

  test('steps with typed-array inputs and rewards (the binary transport) come back bit for bit, -0 included', async () => {
    const { dir, store, s } = await started(11);
    // What the binary protocol's decoder hands the session: Float64Arrays where JSON has arrays.
    const f = (...x: number[]) => Float64Array.of(...x) as unknown as number[];
    await s.step({ inputs: { pre: f(100, 0, 55.5, 1e-300) }, reward: 0.5 });
    await s.step({ steps: 2, inputs: { pre: [f(90, 0, 0, 3), f(0, 100, 7, 0)] }, reward: f(1, -0.25) });
    // A -0 current: JSON would write it as 0, so this one is logged in the binary format.
    await s.step({ steps: 2, inputs: { pre: f(-0, 100, 0, 100), post: f(-0, 1, 2) }, reward: f(-0, 2) });
    await s.step({ inputs: { pre: f(3, 4, 5, 6) }, deferReward: true });
    const want = await s.snapshot();
    crash(store);
    const logged = parseFrames(readFileSync(tailOf(dir))).rows.map((r) => (typeof r.payload === 'string' ? 'json' : r.payload.toString('latin1', 0, 4)));
    assert.deepEqual(logged, ['json', 'json', 'SSB1', 'json']);
    const { m } = restart(dir);
    assert.deepEqual(await m.get(s.id).snapshot(), want);
    await m.close();
  });

  test('a write to the tail file cut short (disk full) refuses its command, leaves the file whole, and the next commands are saved', async () => {
    const { dir, store, s } = await started(12);
    const before = await stepOneByOne(s, 3);
    const size = statSync(tailOf(dir)).size;
    // The next write stops half way, as a full disk makes it.
    const write = fs.writeSync;
    let cut = 0;
    fs.writeSync = ((fd: number, buf: Buffer, off: number, len: number, pos: number) => {
      fs.writeSync = write;
      syncBuiltinESMExports();
      cut = write(fd, buf, off, len >> 1, pos);
      return cut;
    }) as typeof fs.writeSync;
    syncBuiltinESMExports();
    await assert.rejects(s.step({ inputs: { pre: 100 } }), (e: SpikeserveError) => e.code === 'PERSISTENCE_FAILED');
    assert.ok(cut > 0, 'half a frame was written');
    assert.equal(statSync(tailOf(dir)).size, size, 'and cut off again');
    assert.deepEqual(await s.snapshot(), before.at(-1), 'the session is back at its last saved command');
    await s.step({ steps: 2, inputs: { pre: [100, 0, 80, 0] }, reward: 1 });
    const final = await s.snapshot();
    crash(store);
    const { m, tailDamage } = restart(dir);
    assert.equal(tailDamage, null);
    assert.deepEqual(await m.get(s.id).snapshot(), final);
    await m.close();
  });

  test('with PERSIST_SYNC=full the same commands come back', async () => {
    const { dir, store, s } = await started(9, 'full');
    const after = await stepOneByOne(s, 4);
    crash(store);
    const opened = openDataDir(dir, 'full');
    const m = manager(opened.store);
    m.restore(opened.loaded);
    assert.deepEqual(await m.get(s.id).snapshot(), after.at(-1));
    await m.close();
  });

  test('a database that cannot be read is moved aside with its tail file, and the new one starts with an empty tail', async () => {
    const { dir, store, s } = await started(10);
    await stepOneByOne(s, 3);
    crash(store);
    // Not a database any more: the start salvages what it can from a copy, then starts a fresh one.
    writeFileSync(join(dir, 'spikeserve.db'), Buffer.alloc(4096, 0x5a));
    const opened = openDataDir(dir, 'normal');
    assert.ok(opened.movedTo && existsSync(opened.movedTo + TAIL_SUFFIX), 'the tail file went with the damaged database');
    assert.equal(existsSync(tailOf(dir)) ? statSync(tailOf(dir)).size : 0, 0, 'the fresh database starts with an empty tail');
    opened.store.close();
  });
});
