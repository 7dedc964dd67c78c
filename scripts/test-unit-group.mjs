/**
 * Runs several test files in one process, for `npm run test:unit`
 * (scripts/test-unit.mjs writes a file per group that calls runGroup).
 * Starting node and loading the app once per group rather than once per
 * file is most of what a small test file costs.
 *
 * Each file is loaded with require() (a synchronous load of an ES module)
 * inside a describe block named after it: the tests and hooks it declares at
 * its top level then belong to that block, so its before() and after() run
 * around its own tests, as when it has a process of its own. (import() would
 * load it asynchronously, outside the block, and its top-level hooks would
 * become the whole process's.)
 *
 * A file must stop what it starts: after its tests and hooks, anything it
 * left keeping the process alive (a server, a socket, a timer) fails it,
 * named, rather than holding up the files after it or the end of the run
 * (the process is ended REPORT_MS after its last test).
 */
import { relative } from 'node:path';
import { createRequire } from 'node:module';
import { after, before, describe } from 'node:test';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { setTimeout as timer } from 'node:timers';
import { setTimeout } from 'node:timers/promises';

const require = createRequire(import.meta.url);

/** How long what a file closed may take to go (sockets closing, a last timer). */
const SETTLE_MS = 2000;
/**
 * How long a group's process may stay up after its last test when something
 * a file left keeps it alive (that file has failed by then): time for the
 * test runner to receive every result before the process is ended.
 */
const REPORT_MS = 5000;

/** The kinds of handle keeping the process alive, counted. */
function activeHandles() {
  const counts = new Map();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

function leftSince(baseline) {
  const left = [];
  for (const [kind, n] of activeHandles()) {
    const extra = n - (baseline.get(kind) ?? 0);
    if (extra > 0) left.push(`${extra} ${kind}`);
  }
  return left;
}

/**
 * `files`: absolute paths of compiled test files. `costsFile`: where to write
 * how long each took (seconds of wall and CPU time), for the next run's
 * grouping; null for nowhere.
 */
export function runGroup(files, costsFile = null) {
  const costs = {};
  for (const file of files) {
    const name = relative(process.cwd(), file);
    describe(name, () => {
      let baseline = new Map();
      let t0 = 0;
      let c0 = null;
      before(() => {
        baseline = activeHandles();
        t0 = performance.now();
        c0 = process.cpuUsage();
      });
      require(file);
      // Registered after the file's own top-level after() hooks: runs once they have.
      after(async () => {
        const cpu = process.cpuUsage(c0 ?? undefined);
        costs[name] = { wallS: (performance.now() - t0) / 1000, cpuS: (cpu.user + cpu.system) / 1e6 };
        let left = leftSince(baseline);
        for (const start = performance.now(); left.length > 0 && performance.now() - start < SETTLE_MS; left = leftSince(baseline)) {
          await setTimeout(20);
        }
        if (left.length > 0) throw new Error(`${name} left ${left.join(', ')} running after its tests: a test file must stop what it starts`);
      });
    });
  }
  if (costsFile !== null) after(() => writeFileSync(costsFile, JSON.stringify(costs)));
  // Unreferenced: a group whose files stopped what they started ends before it fires.
  after(() => {
    timer(() => process.exit(1), REPORT_MS).unref();
  });
}
