/**
 * Damage found at start is reported and worked around: a session whose log
 * or snapshot fails its checksum, or whose log lost a record, is reported
 * and dropped (a copy of the database kept), while the other sessions load
 * exactly; a truncated database file, or one that is not a database at all,
 * is moved aside and the service starts on a fresh one with every session
 * that could still be read in full.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';
import { defaultConfig } from '../src/config.js';
import { call, createSession } from './helpers/http.js';

const NET = {
  dt: 0.1,
  populations: { pre: { n: 6, refrac_length: 0 }, post: { n: 4, refrac_length: 0 } },
  connections: { pp: { pre: 'pre', post: 'post', w_max: 5, rule: { type: 'MSTDP', lr: [0.003, 0.002] } } },
};

interface Started {
  app: FastifyInstance;
  lines: () => Record<string, unknown>[];
}

async function start(dataDir: string): Promise<Started> {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out.push(String(chunk));
      cb();
    },
  });
  const app = await buildApp(defaultConfig({ dataDir, overloadEventLoopDelayMs: 0, overloadMemoryMb: 0 }), { logger: { level: 'info', stream } });
  return { app, lines: () => out.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** Creates sessions, runs some steps on each, returns their ids and snapshots. */
async function populate(app: FastifyInstance, n: number, net: unknown = NET): Promise<{ ids: string[]; snapshots: Map<string, unknown> }> {
  const ids: string[] = [];
  const snapshots = new Map<string, unknown>();
  for (let i = 0; i < n; i++) {
    const id = await createSession(app, { network: net, seed: i });
    for (let k = 0; k < 4; k++) {
      const r = await call(app, 'POST', `/v1/sessions/${id}/step`, { steps: 5, inputs: { pre: 100 - 10 * k }, reward: k - 1.5, return: { spikes: 'none' } });
      assert.equal(r.status, 200);
    }
    ids.push(id);
    snapshots.set(id, (await call(app, 'GET', `/v1/sessions/${id}/snapshot`)).body);
  }
  return { ids, snapshots };
}

/** Stops the app as a crash would leave it for the log: no final snapshots (every change only in the log). */
async function stopLeavingLog(app: FastifyInstance): Promise<void> {
  await app.sessions.close({ snapshotDeadline: -Infinity });
  await app.close();
}

function keyOf(db: Database.Database, id: string): number {
  return db.prepare('SELECT key FROM sessions WHERE id = ?').pluck().get(id) as number;
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'spikeserve-damage-'));
}

/** What a kill -9 of a running server leaves: its database, WAL and tail file as they are (copied while it runs, idle). */
function crashImage(dir: string): string {
  const copy = tmp();
  for (const ext of ['', '-wal', '-tail']) {
    const f = join(dir, 'spikeserve.db' + ext);
    if (existsSync(f)) copyFileSync(f, join(copy, 'spikeserve.db' + ext));
  }
  return copy;
}

const errorLines = (s: Started, pattern: RegExp) => s.lines().filter((l) => l.level === 50 && pattern.test(JSON.stringify(l)));

describe('damage found at start', () => {
  test('a session whose log fails its checksum, or lost a record, or whose snapshot fails its checksum, is reported and dropped; the others load exactly', async () => {
    const dir = tmp();
    const first = await start(dir);
    const { ids, snapshots } = await populate(first.app, 4);
    await stopLeavingLog(first.app);

    const [ok, badRecord, gap, badSnapshot] = ids;
    const db = new Database(join(dir, 'spikeserve.db'));
    db.prepare(`UPDATE log SET payload = replace(payload, '"steps":5', '"steps":6') WHERE session = ? AND seq = 2`).run(keyOf(db, badRecord));
    db.prepare('DELETE FROM log WHERE session = ? AND seq = 2').run(keyOf(db, gap));
    const blob = db.prepare('SELECT data FROM snapshots WHERE session = ?').pluck().get(keyOf(db, badSnapshot)) as Buffer;
    blob[blob.length - 3] ^= 0x40;
    db.prepare('UPDATE snapshots SET data = ? WHERE session = ?').run(blob, keyOf(db, badSnapshot));
    db.close();

    const second = await start(dir);
    try {
      const report = second.app.restoreReport!;
      assert.equal(report.restored, 1);
      const reasons = new Map(report.damaged.map((d) => [d.id, d.reason]));
      assert.match(reasons.get(badRecord)!, /log record 2 fails its checksum/);
      assert.match(reasons.get(gap)!, /skips from record 1 to 3/);
      assert.match(reasons.get(badSnapshot)!, /snapshot fails its checksum/);
      // Reported in the log, one error line per session, naming where the data was kept.
      const errors = second.lines().filter((l) => l.msg === 'session damaged on disk: not restored');
      assert.deepEqual(errors.map((l) => l.sessionId).sort(), [badRecord, gap, badSnapshot].sort());
      assert.ok(report.preservedCopy && existsSync(report.preservedCopy), 'a copy of the damaged database is kept');
      assert.ok(errors.every((l) => l.preservedCopy === report.preservedCopy));
      // The intact session is exactly as it was; the damaged ones are gone (404), not half-restored.
      assert.deepEqual((await call(second.app, 'GET', `/v1/sessions/${ok}/snapshot`)).body, snapshots.get(ok));
      for (const id of [badRecord, gap, badSnapshot]) assert.equal((await call(second.app, 'GET', `/v1/sessions/${id}`)).status, 404);
      const metrics = (await call(second.app, 'GET', '/metrics')).body as string;
      assert.match(metrics, /spikeserve_restore_sessions\{outcome="damaged"\} 3/);
      // The kept copy still has the damaged sessions' rows, for recovery by hand.
      const copy = new Database(report.preservedCopy, { readonly: true });
      assert.equal(copy.prepare('SELECT count(*) FROM sessions').pluck().get(), 4);
      copy.close();
    } finally {
      await second.app.close();
    }
    // Dropped from the live database: the next start is clean.
    const third = await start(dir);
    assert.equal(third.app.restoreReport!.restored, 1);
    assert.deepEqual(third.app.restoreReport!.damaged, []);
    await third.app.close();
  });

  test('a truncated database file is detected, moved aside, and every session still readable in full is restored exactly', async () => {
    const dir = tmp();
    const big = {
      dt: 0.1,
      populations: { pre: { n: 40, refrac_length: 0 }, post: { n: 30, refrac_length: 0 } },
      connections: { pp: { pre: 'pre', post: 'post', w_max: 5, rule: { type: 'MSTDP', lr: [0.003, 0.002] } } },
    };
    const first = await start(dir);
    const { ids, snapshots } = await populate(first.app, 12, big);
    await first.app.close();
    const file = join(dir, 'spikeserve.db');
    const size = statSync(file).size;
    truncateSync(file, Math.floor(size * 0.6) - (Math.floor(size * 0.6) % 4096));

    const second = await start(dir);
    try {
      const report = second.app.restoreReport!;
      assert.ok(report.fileDamage.length > 0, 'the damage is reported');
      assert.ok(report.preservedCopy && existsSync(report.preservedCopy), `the damaged file is kept (${report.preservedCopy})`);
      const logged = second.lines().find((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('the database was damaged'));
      assert.ok(logged && logged.level === 50, 'an error line says so');
      assert.ok(report.restored >= 1, `some sessions are restored (${report.restored})`);
      assert.ok(report.restored < ids.length, 'the truncation did lose some');
      const listed = ((await call(second.app, 'GET', '/v1/sessions?limit=100')).body.sessions as { id: string }[]).map((s) => s.id);
      assert.equal(listed.length, report.restored);
      for (const id of listed) assert.deepEqual((await call(second.app, 'GET', `/v1/sessions/${id}/snapshot`)).body, snapshots.get(id), `session ${id} is exact`);
      // The service goes on working on its fresh database.
      await createSession(second.app, { network: NET });
    } finally {
      await second.app.close();
    }
    const third = await start(dir);
    assert.deepEqual(third.app.restoreReport!.fileDamage, []);
    assert.ok(third.app.restoreReport!.restored >= 2);
    await third.app.close();
  });

  test('a file that is not a database at all is moved aside and the service starts empty', async () => {
    const dir = tmp();
    const file = join(dir, 'spikeserve.db');
    writeFileSync(file, Buffer.alloc(8192, 0x5a));
    const s = await start(dir);
    try {
      const report = s.app.restoreReport!;
      assert.equal(report.restored, 0);
      assert.match(report.fileDamage.join(' '), /not a readable SQLite database/);
      assert.ok(report.preservedCopy && readFileSync(report.preservedCopy).equals(Buffer.alloc(8192, 0x5a)), 'the original bytes are kept');
      await createSession(s.app, { network: NET });
    } finally {
      await s.app.close();
    }
  });

  test('an empty database file beside a WAL and a tail file that hold data is damaged: all three are moved aside, intact, and reported', async () => {
    const dir = tmp();
    const first = await start(dir);
    await populate(first.app, 2);
    const image = crashImage(dir);
    await first.app.close();
    const file = join(image, 'spikeserve.db');
    const walBytes = statSync(file + '-wal').size;
    const tailBytes = statSync(file + '-tail').size;
    assert.ok(walBytes > 0 && tailBytes > 0, 'the crash left data in the WAL and the tail file');
    truncateSync(file, 0);

    const second = await start(image);
    try {
      const report = second.app.restoreReport!;
      assert.match(report.fileDamage.join(' '), /is empty \(0 bytes\) while spikeserve\.db-wal holds \d+ bytes and spikeserve\.db-tail holds \d+ bytes/);
      assert.ok(report.preservedCopy, 'where the files went is reported');
      assert.equal(statSync(report.preservedCopy!).size, 0);
      assert.equal(statSync(report.preservedCopy + '-wal').size, walBytes, 'the WAL is kept whole');
      assert.equal(statSync(report.preservedCopy + '-tail').size, tailBytes, 'the tail file is kept whole');
      assert.equal(errorLines(second, /the database was damaged/).length, 1, 'an error line says so');
      assert.equal(report.restored, 0);
      await createSession(second.app, { network: NET });
    } finally {
      await second.app.close();
    }
  });

  test('a tail file missing after a crash is an error line (its commands are lost); after a clean stop it is not', async () => {
    const dir = tmp();
    const first = await start(dir);
    const { ids } = await populate(first.app, 2);
    const image = crashImage(dir);
    await first.app.close();
    assert.ok(statSync(join(image, 'spikeserve.db-tail')).size > 0, 'the steps were in the tail file');
    rmSync(join(image, 'spikeserve.db-tail'));

    const second = await start(image);
    try {
      const lines = errorLines(second, /spikeserve\.db-tail is missing/);
      assert.equal(lines.length, 1, 'an error line says the tail file is missing');
      // The sessions themselves were saved in the database: they load, without the tail's commands
      // (the first one's steps moved into the database with the second one's creation).
      assert.equal(second.app.restoreReport!.restored, ids.length);
      assert.equal((await call(second.app, 'GET', `/v1/sessions/${ids[0]}`)).body.step, 20);
      assert.equal((await call(second.app, 'GET', `/v1/sessions/${ids[1]}`)).body.step, 0);
    } finally {
      await second.app.close();
    }

    // After a clean stop the tail's rows are in the database: a missing (empty) tail file loses nothing and is no error.
    rmSync(join(dir, 'spikeserve.db-tail'));
    const third = await start(dir);
    try {
      assert.deepEqual(errorLines(third, /tail/), []);
      for (const id of ids) assert.equal((await call(third.app, 'GET', `/v1/sessions/${id}`)).body.step, 20);
    } finally {
      await third.app.close();
    }
  });

  test('a database from a newer version stops the start with a message saying so', async () => {
    const dir = tmp();
    const db = new Database(join(dir, 'spikeserve.db'));
    db.pragma('user_version = 99');
    db.close();
    await assert.rejects(start(dir), /written by a newer spikeserve \(schema 99/);
  });
});
