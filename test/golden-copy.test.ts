/**
 * test/golden is the project's own copy of the reference trajectories, so
 * that a clone of the project alone runs every test. Where the folder they
 * are kept in upstream sits beside the project (../shared/golden), the copy
 * must hold the same cases, byte for byte; elsewhere there is nothing to compare.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { GOLDEN_DIR } from './helpers/golden.js';

const UPSTREAM = path.resolve(process.env.SPIKESERVE_UPSTREAM_GOLDEN ?? path.join('..', 'shared', 'golden'));

const cases = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

test('test/golden holds the upstream cases, file for file and byte for byte', (t) => {
  if (!existsSync(UPSTREAM)) {
    t.skip(`${UPSTREAM} does not exist here: nothing to compare the copy with`);
    return;
  }
  assert.deepEqual(cases(GOLDEN_DIR), cases(UPSTREAM), 'the same case files');
  for (const file of cases(UPSTREAM)) {
    assert.ok(readFileSync(path.join(GOLDEN_DIR, file)).equals(readFileSync(path.join(UPSTREAM, file))), `${file}: the copy differs from ${UPSTREAM}`);
  }
});
