/**
 * Group commit: a lone client gets a commit per request, written right after
 * the callback that made it; requests from several connections in the same
 * turn of the event loop share commits once the journal has seen such turns,
 * and it goes back to a commit per request when they stop.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Journal } from '../src/persist/journal.js';
import type { Batch } from '../src/persist/rows.js';
import type { SessionLog } from '../src/persist/session-log.js';
import { Store } from '../src/persist/store.js';

function setup(sync: 'normal' | 'full' = 'normal'): { journal: Journal; logs: SessionLog[]; commits: () => number; close: () => void } {
  const store = Store.open(mkdtempSync(join(tmpdir(), 'spikeserve-group-')), sync);
  let commits = 0;
  const commit = store.commit.bind(store);
  store.commit = (b: Batch) => {
    commits++;
    commit(b);
  };
  const journal = new Journal(store, { compactSteps: 1e9, onFailure: () => {}, onCompactionWanted: () => {} });
  const logs = Array.from({ length: 8 }, (_, k) => journal.attach(k + 1, { seq: 0, upto: 0, firstLiveId: null, steps: 0, bytes: 0, snapshotBytes: 0 }));
  return { journal, logs, commits: () => commits, close: () => journal.close() };
}

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

/** One command per turn, each waited for: a client in strict request-reply. */
async function lone(log: SessionLog, turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) {
    await nextTurn();
    log.append('step', '{"inputs":{"pre":[1]}}', 1);
    await log.durable;
  }
}

/** `logs.length` commands in separate callbacks of each turn: requests on several connections at once. */
async function concurrent(logs: SessionLog[], turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) {
    await Promise.all(
      logs.map(
        (log) =>
          new Promise<void>((resolve, reject) => {
            setImmediate(() => {
              log.append('step', '{"inputs":{"pre":[1]}}', 1);
              const d = log.durable;
              if (d) d.then(resolve, reject);
              else resolve();
            });
          }),
      ),
    );
  }
}

test('a lone client in request-reply gets one commit per command, and turns are not shared', async () => {
  const { journal, logs, commits, close } = setup();
  await lone(logs[0], 300);
  assert.equal(commits(), 300);
  assert.equal(journal.sharingTurns, false);
  close();
});

test('commands of several connections in one turn share commits, and sharing stops when the load is a lone client again', async () => {
  const { journal, logs, commits, close } = setup();
  await concurrent(logs, 100);
  assert.equal(journal.sharingTurns, true);
  // At most two commits a turn once sharing (the first callback's, then the rest at the end of the turn), and 8 before.
  assert.ok(commits() <= 2 * 100 + 8, `${commits()} commits for 800 commands in 100 turns`);
  await lone(logs[0], 200);
  assert.equal(journal.sharingTurns, false);
  const before = commits();
  await lone(logs[0], 50);
  assert.equal(commits() - before, 50);
  close();
});

test('with PERSIST_SYNC=full turns are always shared: one disk flush for every command of a turn after the first', async () => {
  const { journal, logs, commits, close } = setup('full');
  assert.equal(journal.sharingTurns, true);
  await concurrent(logs, 20);
  assert.ok(commits() <= 2 * 20, `${commits()} commits for 160 commands in 20 turns`);
  close();
});
