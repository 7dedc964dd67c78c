/**
 * `npm run test:unit`: the test files that run in the test's own process, for
 * a quick loop while developing; `npm test` runs them all. A file is left out
 * when it, or a test helper it imports, imports node:child_process (a server
 * in its own process, kill -9, the CLI, the Dockerfile's commands) or
 * playwright-core (a browser). Arguments are passed to node --test; --list
 * prints the files instead.
 *
 * The files run side by side, one per core (node --test alone runs one fewer
 * than the cores: one at a time on two): each picks its own ports and
 * temporary directories, so none waits on another. --test-concurrency=<n>
 * overrides it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);

const OUT_OF_PROCESS = /from\s+['"](node:child_process|child_process|playwright-core)['"]/;
const LOCAL_IMPORT = /from\s+['"](\.{1,2}\/[^'"]+)['"]/g;

/** Whether a test source, or a test helper it reaches, starts processes or a browser. */
function outOfProcess(file, seen = new Set()) {
  if (seen.has(file)) return false;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  if (OUT_OF_PROCESS.test(text)) return true;
  for (const [, spec] of text.matchAll(LOCAL_IMPORT)) {
    const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
    // Only the tests' own helpers: what they import from src/ runs in the test's process.
    if (target.startsWith(join(root, 'test')) && existsSync(target) && outOfProcess(target, seen)) return true;
  }
  return false;
}

const files = readdirSync('test')
  .filter((f) => f.endsWith('.test.ts') && !outOfProcess(join(root, 'test', f)))
  .map((f) => join('dist/test', f.replace(/\.ts$/, '.js')));
const args = process.argv.slice(2);
if (args.includes('--list')) {
  process.stdout.write(files.join('\n') + '\n');
  process.exit(0);
}
const concurrency = args.some((a) => a.startsWith('--test-concurrency')) ? [] : [`--test-concurrency=${availableParallelism()}`];
const r = spawnSync(process.execPath, ['--test', ...concurrency, ...args, ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
