/**
 * Durability without HTTP: sessions saved to SQLite come back exactly (every
 * kind of state change, with and without final snapshots, across log
 * compaction), deletions are durable, a second server cannot share the
 * directory, and a failed commit refuses its changes and puts the session
 * back to its saved state.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { SpikeserveError } from '../src/errors.js';
import { Store } from '../src/persist/store.js';
import type { SessionManager, SessionManagerOptions } from '../src/sessions/manager.js';
import { assertRestored, persistManager } from './helpers/manager.js';
import type { Session } from '../src/sessions/session.js';

const NET = {
  dt: 0.1,
  populations: { pre: { n: 4, refrac_length: 2 }, post: { n: 3, refrac_length: 0 } },
  connections: {
    pp: { pre: 'pre', post: 'post', w_min: -1, w_max: 8, rule: { type: 'MSTDP', lr: [0.003, 0.002] } },
    pq: { pre: 'pre', post: 'post', w_max: 2, rule: { type: 'STDP', lr: [0.001, 0.002], weight_decay: 0.001 } },
  },
};

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'spikeserve-persist-'));
}

function manager(dir: string, over: Partial<SessionManagerOptions> = {}): SessionManager {
  return persistManager({ ...over, store: 'store' in over ? over.store : Store.open(dir, 'normal') });
}

/** Every kind of state change, with inputs that make the network fire and learn. */
async function exercise(s: Session, k: number): Promise<void> {
  await s.step({ steps: 20, inputs: { pre: [90, 0, 70 + k, 40] }, reward: 1 });
  await s.step({ steps: 3, inputs: { pre: [[100, 0, 0, 100], [0, 100, 100, 0], [50, 50, 50, 50]] }, reward: [1, -1, 0.5] });
  await s.step({ inputs: { pre: 100, post: 20 }, deferReward: true });
  await s.reward(-2.5);
  await s.setWeights('pp', [[1, 2, 3], [0.5, -0, 9], [-3, 0.25, 1], [4, 4, 4]]);
  await s.step({ steps: 50, inputs: { pre: [80, 80, 0, 0] }, reward: -0.5, return: { spikes: 'counts' } });
  await s.reset();
  await s.step({ steps: 10, inputs: { pre: [100, 0, 100, 0] } });
  await s.step({ inputs: { pre: [0, 100, 0, 100] }, deferReward: true });
}

async function stateOf(m: SessionManager): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for (const { id } of m.list({ limit: 1000 }).sessions) {
    const s = await m.open(id);
    out.set(id, { snapshot: await s.snapshot(), detail: { ...(await s.detail()), lastUsedAt: null, expiresAt: null } });
  }
  return out;
}

describe('sessions saved to SQLite', () => {
  for (const finalSnapshots of [true, false]) {
    test(`come back exactly after a restart (${finalSnapshots ? 'with final snapshots' : 'from the log alone'})`, async () => {
      const dir = tmp();
      const m1 = manager(dir);
      const a = m1.create({ network: NET, seed: 7, name: 'a' }, 'alice');
      const b = m1.create({ network: NET, seed: 8 }, null);
      await Promise.all([a.persisted(), b.persisted()]);
      await Promise.all([exercise(a, 1), exercise(b, 2)]);
      const before = await stateOf(m1);
      // Deferred reward left pending: the snapshot must carry it.
      assert.equal(a.summary().pending, true);
      await m1.close({ snapshotDeadline: finalSnapshots ? Infinity : -Infinity });

      const m2 = manager(dir);
      const report = m2.restore();
      assert.equal(report.restored, 2);
      assert.deepEqual(report.damaged, []);
      assert.deepEqual(await stateOf(m2), before);
      const a2 = m2.get(a.id);
      assert.equal(a2.owner, 'alice');
      assert.equal(a2.name, 'a');
      assert.equal(a2.createdAt, a.createdAt);
      // Ownership survives: another key does not see it.
      assert.throws(() => m2.get(a.id, 'bob'), (e: SpikeserveError) => e.code === 'SESSION_NOT_FOUND');
      // Restored sessions continue as the originals would have.
      await a2.step({ steps: 5, inputs: { pre: 100 } });
      await m2.close();
    });
  }

  test('the log is compacted into snapshots past PERSIST_COMPACT_STEPS, and old records are pruned', async () => {
    const dir = tmp();
    const m1 = manager(dir, { compactSteps: 100 });
    const s = m1.create({ network: NET, seed: 1 });
    for (let i = 0; i < 120; i++) await s.step({ steps: 10, inputs: { pre: [100, 0, 100, 0] }, reward: i % 2 ? 1 : -1 });
    const before = await s.snapshot();
    await m1.close({ snapshotDeadline: -Infinity });
    const db = new Database(join(dir, 'spikeserve.db'), { readonly: true });
    const upto = db.prepare('SELECT upto FROM snapshots').pluck().get() as number;
    const live = db.prepare('SELECT count(*) FROM log WHERE seq > ?').pluck().get(upto) as number;
    db.close();
    // 1200 steps, compacted every 100: at most 10 steps' worth of records after the last snapshot.
    assert.ok(upto >= 110, `snapshot covers record ${upto}`);
    assert.ok(live <= 10, `${live} live records`);
    const m2 = manager(dir, { compactSteps: 100 });
    m2.restore();
    assert.deepEqual(await m2.get(s.id).snapshot(), before);
    await m2.close();
  });

  test('commands sent without waiting share log rows, across compactions in the same commit, and come back exactly', async () => {
    const dir = tmp();
    const m1 = manager(dir, { compactSteps: 50 });
    const s = m1.create({ network: NET, seed: 5 });
    await s.persisted();
    // Sent together, as a pipelining client does: they run in one turn and go to disk in one commit,
    // which also holds the snapshots that compaction writes after 50 and 100 steps.
    const replies: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      const defer = i % 10 === 4;
      replies.push(s.step({ steps: 3, inputs: { pre: [100, i % 2 ? 0 : 80, 60, i] }, ...(defer ? { deferReward: true } : { reward: (i % 3) - 1 }) }));
      if (defer) replies.push(s.reward(0.5 - i / 40));
      if (i === 17) replies.push(s.setWeights('pp', [[1, 2, 3], [0.5, -0, 7], [-1, 0.25, 1], [4, 4, 4]]));
      if (i === 33) replies.push(s.reset());
    }
    await Promise.all(replies);
    const before = await s.snapshot();
    await m1.close({ snapshotDeadline: -Infinity });
    const db = new Database(join(dir, 'spikeserve.db'), { readonly: true });
    const upto = db.prepare('SELECT upto FROM snapshots').pluck().get() as number;
    const packed = db.prepare('SELECT count(*) FROM log WHERE kind = 0 AND seq > ?').pluck().get(upto) as number;
    db.close();
    assert.ok(upto > 0 && upto < 47, `a snapshot was written in the middle of the commands (covers ${upto} of 47)`);
    assert.equal(packed, 1, 'the commands after it are one row');
    const m2 = manager(dir, { compactSteps: 50 });
    await assertRestored(m2, s.id, before);
  });

  test('a row of several commands that fails its checksum is reported, and the session is not restored', async () => {
    const dir = tmp();
    const m1 = manager(dir);
    const s = m1.create({ network: NET, seed: 6 });
    await Promise.all([s.step({ steps: 2, inputs: { pre: 100 } }), s.step({ steps: 2, inputs: { pre: 50 } }), s.step({ inputs: { pre: 0 } })]);
    await m1.close({ snapshotDeadline: -Infinity });
    const db = new Database(join(dir, 'spikeserve.db'));
    const row = db.prepare('SELECT id, payload FROM log WHERE kind = 0').get() as { id: number; payload: Buffer };
    row.payload[row.payload.length - 2] ^= 0x01;
    db.prepare('UPDATE log SET payload = ? WHERE id = ?').run(row.payload, row.id);
    db.close();
    const m2 = manager(dir);
    const report = m2.restore();
    assert.equal(report.restored, 0);
    assert.deepEqual(report.damaged.map((d) => d.id), [s.id]);
    assert.match(report.damaged[0].reason, /log record 1 fails its checksum/);
    await m2.close();
  });

  test('a version 1 database (a log row per command) is read as it is and upgraded', async () => {
    const dir = tmp();
    const m1 = manager(dir);
    const s = m1.create({ network: NET, seed: 9 });
    // One at a time: one command a row, all a version 1 file could hold.
    await s.step({ steps: 4, inputs: { pre: [100, 0, 90, 20] }, reward: 0.5 });
    await s.step({ inputs: { pre: 100 }, deferReward: true });
    await s.reward(-1);
    const before = await s.snapshot();
    await m1.close({ snapshotDeadline: -Infinity });
    const db = new Database(join(dir, 'spikeserve.db'));
    assert.equal(db.prepare('SELECT count(*) FROM log WHERE kind = 0').pluck().get(), 0);
    db.pragma('user_version = 1');
    db.close();
    const m2 = manager(dir);
    assert.equal(m2.restore().restored, 1);
    assert.deepEqual(await m2.get(s.id).snapshot(), before);
    await m2.close();
    const after = new Database(join(dir, 'spikeserve.db'), { readonly: true });
    assert.equal(after.pragma('user_version', { simple: true }), 3);
    after.close();
  });

  test('a deleted session stays deleted; creation order and paging continue after a restart', async () => {
    const dir = tmp();
    const m1 = manager(dir);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(m1.create({ network: NET, seed: i }).id);
    await m1.get(ids[3]).persisted();
    await m1.delete(ids[1]);
    await m1.close();
    const m2 = manager(dir);
    m2.restore();
    assert.deepEqual(m2.list().sessions.map((s) => s.id), [ids[0], ids[2], ids[3]]);
    const fresh = m2.create({ network: NET });
    assert.equal(m2.list().sessions.at(-1)?.id, fresh.id);
    assert.ok(fresh.seq > m2.get(ids[3]).seq);
    await m2.close();
  });

  test('a second server cannot open the same data directory', async () => {
    const dir = tmp();
    const m1 = manager(dir);
    assert.throws(() => Store.open(dir, 'normal'), (e: Error & { reason?: string }) => e.reason === 'locked' && /in use by another process/.test(e.message));
    await m1.close();
    // Once the first is closed, it opens.
    Store.open(dir, 'normal').close();
  });

  test('a failed commit (disk full) refuses its changes, puts the session back to its saved state, and later commits work', async () => {
    const dir = tmp();
    const store = Store.open(dir, 'normal');
    const m = manager(dir, { store });
    const s = m.create({ network: NET, seed: 3 });
    await s.step({ steps: 30, inputs: { pre: [100, 0, 100, 0] }, reward: 1 });
    const saved = await s.snapshot();
    // The database may not grow any more: the next commit that needs a page fails with SQLITE_FULL.
    const db = store.handle;
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages}`);
    const big = [];
    // Per-step inputs make records of a few kilobytes: more than the pages the database has free.
    const perStep = (i: number) => Array.from({ length: 200 }, (_, t) => [50 + i, t % 7, 100 - i, (t * 13) % 90]);
    for (let i = 0; i < 40; i++) big.push(s.step({ steps: 200, inputs: { pre: perStep(i) }, reward: 0.1 * i, return: { spikes: 'none' } }));
    const settled = await Promise.allSettled(big);
    const failed = settled.filter((r) => r.status === 'rejected');
    assert.ok(failed.length > 0, 'some steps failed');
    for (const r of failed) assert.equal(((r as PromiseRejectedResult).reason as SpikeserveError).code, 'PERSISTENCE_FAILED');
    // Back at its saved state: only the steps whose commit succeeded count.
    const okSteps = 200 * settled.filter((r) => r.status === 'fulfilled').length;
    const now = await s.snapshot();
    assert.equal(now.step, saved.step + okSteps);
    db.pragma('max_page_count = 1073741823');
    const after = await s.step({ steps: 2, inputs: { pre: 100 } });
    assert.equal(after.step, now.step + 2);
    const final = await s.snapshot();
    await m.close({ snapshotDeadline: -Infinity });
    const m2 = manager(dir);
    m2.restore();
    assert.deepEqual(await m2.get(s.id).snapshot(), final);
    await m2.close();
  });

  test('memory only: no database is written', async () => {
    const dir = tmp();
    const m = manager(dir, { store: null });
    const s = m.create({ network: NET });
    await s.step({ steps: 3 });
    await m.close();
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(m.persistent, false);
  });
});
