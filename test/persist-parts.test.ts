/**
 * Snapshots larger than a part (PART_BYTES) are written in parts, over
 * several turns, before the commit that refers to them. What a user relies
 * on: such a session comes back exactly (across compactions and weight
 * writes, which are then recorded as snapshots), parts that no snapshot
 * refers to (replaced, or written by a run that stopped before its commit)
 * are deleted without touching the sessions, a damaged part is caught by
 * the snapshot's checksum, and a version 2 database (snapshots inline) is
 * read and upgraded.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { PART_BYTES } from '../src/persist/parts.js';
import { Store } from '../src/persist/store.js';
import type { SessionManager } from '../src/sessions/manager.js';
import type { Session } from '../src/sessions/session.js';
import { assertRestored, persistManager } from './helpers/manager.js';

const N = 300;
/** 90,000 synapses: a snapshot of about 720 kB, three parts. */
const BIG = {
  populations: { pre: { n: N }, post: { n: N } },
  connections: { pp: { pre: 'pre', post: 'post', w_max: 4, rule: { type: 'MSTDP', lr: [0.003, 0.002] } } },
};

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'spikeserve-parts-'));
}

function manager(dir: string, over: { compactSteps?: number; store?: Store } = {}): SessionManager {
  return persistManager({ limits: { maxNeurons: 10_000, maxSynapses: 1_000_000, maxStepsPerCall: 1_000_000, maxSpikeRecordsPerCall: 10_000_000 }, ...over, store: over.store ?? Store.open(dir, 'normal') });
}

function weights(k: number): Float64Array {
  const w = new Float64Array(N * N);
  for (let i = 0; i < w.length; i++) w[i] = ((i * 7919 + k * 104729) % 1000) / 250 - 0.5;
  return w;
}

async function exercise(s: Session, k: number): Promise<void> {
  const input = Array.from({ length: N }, (_, i) => ((i + k) % 3 === 0 ? 100 : 0));
  await s.step({ steps: 30, inputs: { pre: input }, reward: 1 });
  await s.replaceWeights('pp', weights(k));
  await s.step({ steps: 5, inputs: { pre: input }, deferReward: true });
  await s.reward(-0.5);
}

/** Lets the deletion of unreferenced parts, a few per turn, run to its end. */
async function collected(store: Store): Promise<void> {
  for (let i = 0; i < 10_000 && store.garbageBlobs > 0; i++) await nextTurn();
  assert.equal(store.garbageBlobs, 0, 'unreferenced parts are deleted');
}

function partsIn(store: Store): { blobs: number; referenced: number } {
  const db = store.handle;
  return {
    blobs: db.prepare('SELECT count(DISTINCT blob) FROM parts').pluck().get() as number,
    referenced: db.prepare('SELECT count(*) FROM snapshots WHERE parts IS NOT NULL').pluck().get() as number,
  };
}

describe('snapshots written in parts', () => {
  test('a session whose snapshot is larger than a part comes back exactly, and replaced parts are deleted', async () => {
    const dir = tmp();
    const store = Store.open(dir, 'normal');
    const m1 = manager(dir, { store, compactSteps: 20 });
    const s = m1.create({ network: BIG, seed: 3 });
    await s.persisted();
    assert.ok((await s.snapshotTyped()).state.connections.pp.w.length * 8 > 2 * PART_BYTES);
    assert.deepEqual(partsIn(store), { blobs: 1, referenced: 1 });
    // Compactions (every 20 steps) and weight writes each replace the snapshot.
    await exercise(s, 1);
    await exercise(s, 2);
    await collected(store);
    assert.deepEqual(partsIn(store), { blobs: 1, referenced: 1 }, 'only the latest snapshot\'s parts are left');
    const before = await s.snapshot();
    await m1.close({ snapshotDeadline: -Infinity });

    const m2 = manager(dir, { compactSteps: 20 });
    await assertRestored(m2, s.id, before);
  });

  test('parts written by a run that stopped before its commit are deleted at the next start; the sessions are as they were', async () => {
    const dir = tmp();
    const m1 = manager(dir);
    const s = m1.create({ network: BIG, seed: 4 });
    await exercise(s, 3);
    const before = await s.snapshot();
    await m1.close({ snapshotDeadline: -Infinity });

    // A run writes two parts of a snapshot and stops before the commit that would refer to them.
    const interrupted = Store.open(dir, 'normal');
    const blobs = partsIn(interrupted).blobs;
    const writing = interrupted.writeParts([Buffer.alloc(PART_BYTES, 1), Buffer.alloc(PART_BYTES, 2), Buffer.alloc(PART_BYTES, 3)]);
    writing.next();
    writing.next();
    const stranded = partsIn(interrupted).blobs - blobs;
    interrupted.close();
    assert.equal(stranded, 1);

    const store = Store.open(dir, 'normal');
    assert.ok(store.garbageBlobs >= 1);
    const m2 = manager(dir, { store });
    assert.equal(m2.restore().restored, 1);
    await collected(store);
    assert.deepEqual(partsIn(store), { blobs: 1, referenced: 1 });
    assert.deepEqual(await m2.get(s.id).snapshot(), before);
    await m2.close();
  });

  test('a damaged part fails its snapshot\'s checksum: the session is reported damaged, the others load', async () => {
    const dir = tmp();
    const m1 = manager(dir);
    const hit = m1.create({ network: BIG, seed: 5 });
    const other = m1.create({ network: BIG, seed: 6 });
    await Promise.all([hit.persisted(), other.persisted()]);
    await m1.close();
    const db = new Database(join(dir, 'spikeserve.db'));
    const blob = db.prepare('SELECT parts FROM snapshots WHERE session = (SELECT key FROM sessions WHERE id = ?)').pluck().get(hit.id) as number;
    const part = db.prepare('SELECT data FROM parts WHERE blob = ? AND idx = 1').pluck().get(blob) as Buffer;
    part[1000] ^= 0x10;
    db.prepare('UPDATE parts SET data = ? WHERE blob = ? AND idx = 1').run(part, blob);
    db.close();

    const m2 = manager(dir);
    const report = m2.restore();
    assert.equal(report.restored, 1);
    assert.deepEqual(report.damaged.map((d) => d.id), [hit.id]);
    assert.match(report.damaged[0].reason, /snapshot fails its checksum/);
    await m2.close();
  });

  test('a version 2 database (every snapshot inline) is read as it is and upgraded', async () => {
    const dir = tmp();
    const NET = { populations: { a: { n: 3 }, b: { n: 2 } }, connections: { ab: { pre: 'a', post: 'b', rule: { type: 'STDP', lr: [0.01, 0.01] } } } };
    const m1 = manager(dir);
    const s = m1.create({ network: NET, seed: 2 });
    await s.step({ steps: 10, inputs: { a: 100 } });
    const before = await s.snapshot();
    await m1.close();
    // What version 2 wrote: no parts table, no parts column.
    const db = new Database(join(dir, 'spikeserve.db'));
    db.exec('DROP TABLE parts; ALTER TABLE snapshots DROP COLUMN parts; PRAGMA user_version = 2;');
    db.close();

    const m2 = manager(dir);
    assert.equal(m2.restore().restored, 1);
    assert.deepEqual(await m2.get(s.id).snapshot(), before);
    await m2.get(s.id).step({ steps: 5, inputs: { a: 100 } });
    await m2.close();
    const after = new Database(join(dir, 'spikeserve.db'), { readonly: true });
    assert.equal(after.pragma('user_version', { simple: true }), 3);
    assert.ok((after.pragma('table_info(snapshots)') as { name: string }[]).some((c) => c.name === 'parts'));
    after.close();
  });
});
