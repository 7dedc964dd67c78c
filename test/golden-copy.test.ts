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
import { fileURLToPath } from 'node:url';
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

/** What a clone holds: generated, installed and local folders are not the repository's files. */
const NOT_SOURCES = new Set(['.git', 'node_modules', 'dist', 'data', '.venv', '__pycache__', '.pytest_cache']);

function repositoryFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (NOT_SOURCES.has(e.name) || e.name.endsWith('.egg-info')) return [];
    const full = path.join(dir, e.name);
    return e.isDirectory() ? repositoryFiles(full) : [full];
  });
}

test('no file of the repository but this test refers to the folder beside it', () => {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const self = path.join(root, 'test', 'golden-copy.test.ts');
  const beside = ['..', 'shared'].join('/');
  const referring = repositoryFiles(root).filter((f) => f !== self && readFileSync(f).includes(beside));
  assert.deepEqual(referring.map((f) => path.relative(root, f)), [], 'the project stands alone: what it needs is copied in and written in its own words');
});
