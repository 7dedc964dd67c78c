/**
 * `npm run test:unit`: the test files that run in the test's own process, for
 * a quick loop while developing; `npm test` runs them all. A file is left out
 * when it, or a test helper it imports, imports node:child_process (a server
 * in its own process, kill -9, the CLI, the Dockerfile's commands) or
 * playwright-core (a browser). Arguments are passed to node --test; --list
 * prints the files instead. The property, fuzz and long-run tests run at the
 * quick depth (test/helpers/fuzz.ts); SPIKESERVE_TEST_DEPTH=full runs them
 * as `npm test` does.
 *
 * Most files run several to a process (scripts/test-unit-group.mjs): starting
 * node and loading the app once per file was most of what a small file cost.
 * A file keeps a process of its own when one of its modules has a top-level
 * await (it cannot be loaded synchronously inside its group); which modules
 * do is recorded in dist/test-unit-modules.json, so that only those changed
 * since are parsed again. tfjs runs on one platform per process and the
 * tests pick theirs, so a file that starts it shares a process only with
 * files asking for the same platform (or none). --isolated gives every file
 * a process of its own.
 *
 * The groups, two per core, all run at once (node --test alone runs one
 * fewer processes than the cores: one at a time on two): a test waiting on a
 * timer, a socket or the disk leaves its core to another process, and each
 * test picks its own ports and temporary directories, so none waits on
 * another. --test-concurrency=<n> overrides it. The groups are balanced on
 * how long each file took last time (recorded in dist/test-unit-times.json),
 * the longest started first; a file with a process of its own starts as the
 * first group ends.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL, URL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);

const OUT_OF_PROCESS = /from\s+['"](node:child_process|child_process|playwright-core)['"]/;
const STARTS_TFJS = /\binitTfjs\b/;
/** A test's own call that starts tfjs, and what it passes. */
const TFJS_START = /\b(?:initTfjs|goldenOnTfjs)\(([^)]*)\)/g;
const LOCAL_IMPORT = /from\s+['"](\.{1,2}\/[^'"]+)['"]/g;
const TIMES = 'dist/test-unit-times.json';

/** Whether a test source, or a test helper it reaches, matches `pattern`. */
function testSourcesMatch(file, pattern, seen = new Set()) {
  if (seen.has(file)) return false;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  if (pattern.test(text)) return true;
  for (const [, spec] of text.matchAll(LOCAL_IMPORT)) {
    const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
    // Only the tests' own helpers: what they import from src/ runs in the test's process.
    if (target.startsWith(join(root, 'test')) && existsSync(target) && testSourcesMatch(target, pattern, seen)) return true;
  }
  return false;
}

/** Whether a module's code awaits outside any function (TypeScript's parser reads the JavaScript). */
function hasTopLevelAwait(ts, text) {
  const visit = (node) => {
    if (ts.isFunctionLike(node) || ts.isClassLike(node)) return false;
    if (ts.isAwaitExpression(node) || (ts.isForOfStatement(node) && node.awaitModifier)) return true;
    return ts.forEachChild(node, visit) ?? false;
  };
  return visit(ts.createSourceFile('module.js', text, ts.ScriptTarget.Latest, false, ts.ScriptKind.JS));
}

/**
 * What hasTopLevelAwait found in each compiled module last time, by path,
 * with the file's modification time and size then: loading TypeScript and
 * parsing every module took longer than anything else before the tests
 * start, and a build changes few modules.
 */
const MODULES = 'dist/test-unit-modules.json';
let parsed = {};
try {
  parsed = JSON.parse(readFileSync(MODULES, 'utf8'));
} catch {
  // No record yet: every module is parsed.
}
let parsedChanged = false;
let typescript = null;

/** Whether a compiled module's own code awaits at its top level. */
function ownTopLevelAwait(file, text) {
  const { mtimeMs, size } = statSync(file);
  const stamp = `${mtimeMs} ${size}`;
  const key = relative(root, file);
  if (parsed[key]?.stamp === stamp) return parsed[key].awaits;
  typescript ??= createRequire(import.meta.url)('typescript');
  const awaits = text.includes('await') && hasTopLevelAwait(typescript, text);
  parsed[key] = { stamp, awaits };
  parsedChanged = true;
  return awaits;
}

/** Whether a compiled module, or one it imports from the repository, awaits at its top level. */
function awaitsAtTopLevel(file, known) {
  if (known.has(file)) return known.get(file);
  known.set(file, false); // while in an import cycle
  const text = readFileSync(file, 'utf8');
  let awaits = ownTopLevelAwait(file, text);
  for (const [, spec] of text.matchAll(LOCAL_IMPORT)) {
    const target = resolve(dirname(file), spec);
    if (!awaits && existsSync(target)) awaits = awaitsAtTopLevel(target, known);
  }
  known.set(file, awaits);
  return awaits;
}

const files = readdirSync('test')
  .filter((f) => f.endsWith('.test.ts') && !testSourcesMatch(join(root, 'test', f), OUT_OF_PROCESS))
  .map((f) => ({ source: join(root, 'test', f), compiled: join('dist/test', f.replace(/\.ts$/, '.js')) }));
const args = process.argv.slice(2);
if (args.includes('--list')) {
  process.stdout.write(files.map((f) => f.compiled).join('\n') + '\n');
  process.exit(0);
}
const isolated = args.includes('--isolated');
const passed = args.filter((a) => a !== '--isolated');
const cores = availableParallelism();

// require() of an ES module (how a group loads its files) is in Node from 20.19 on.
let loadable = [];
if (!isolated && process.features.require_module) {
  const known = new Map();
  loadable = files.filter((f) => !awaitsAtTopLevel(resolve(f.compiled), known));
  if (parsedChanged) writeFileSync(MODULES, JSON.stringify(parsed, null, 1) + '\n');
}
const direct = files.filter((f) => !loadable.includes(f));

/**
 * Which files a file may share a process with: any (null), or only those
 * starting tfjs on the same platform, read from its own calls (the 'cpu' it
 * names, or TFJS_BACKEND); a file that starts it some other way, none.
 */
function tfjsPlatform(f) {
  if (!testSourcesMatch(f.source, STARTS_TFJS)) return null;
  const asks = new Set([...readFileSync(f.source, 'utf8').matchAll(TFJS_START)].map(([, a]) => /^\{?\s*(?:prefer:\s*)?'(\w+)'\s*\}?$/.exec(a.trim())?.[1] ?? (/process\.env\.TFJS_BACKEND/.test(a) ? 'TFJS_BACKEND' : '')));
  return asks.size === 1 && !asks.has('') ? `tfjs ${[...asks][0]}` : `alone ${f.compiled}`;
}

let times = {};
try {
  times = JSON.parse(readFileSync(TIMES, 'utf8'));
} catch {
  // No record yet: every file counts the same.
}
const known = Object.values(times).filter((t) => typeof t === 'number');
const usual = known.length > 0 ? known.sort((a, b) => a - b)[Math.floor(known.length / 2)] : 1;
const timeOf = (f) => (typeof times[f.compiled] === 'number' ? times[f.compiled] : usual);

// Longest first, each into the group with least so far that it may join;
// two groups a core, so that what the record got wrong is a smaller part of
// any one group.
const groups = Array.from({ length: Math.min(loadable.length, 2 * cores) }, () => ({ files: [], time: 0, platform: null }));
for (const f of [...loadable].sort((a, b) => timeOf(b) - timeOf(a))) {
  const platform = tfjsPlatform(f);
  const open = groups.filter((g) => platform === null || g.platform === null || g.platform === platform);
  const g = open.length > 0 && !platform?.startsWith('alone') ? open.reduce((least, g) => (g.time < least.time ? g : least)) : groups[groups.push({ files: [], time: 0, platform: null }) - 1];
  g.files.push(f);
  g.time += timeOf(f);
  g.platform ??= platform;
}

if (args.includes('--plan')) {
  for (const g of groups) process.stdout.write(`one process, ${g.time.toFixed(1)} s last time:\n${g.files.map((f) => `  ${f.compiled}\n`).join('')}`);
  for (const f of direct) process.stdout.write(`a process of its own: ${f.compiled}\n`);
  process.exit(0);
}

// Every group at once (two a core): while one waits (a timer, a socket, the
// disk) another runs, and the cores share out the work.
const concurrency = passed.some((a) => a.startsWith('--test-concurrency')) ? [] : [`--test-concurrency=${Math.max(cores, groups.length)}`];

const dir = mkdtempSync(join(tmpdir(), 'spikeserve-unit-'));
const groupModule = pathToFileURL(join(root, 'scripts/test-unit-group.mjs')).href;
const runs = groups.map((g, i) => {
  const file = join(dir, `group-${i + 1}.mjs`);
  const costs = join(dir, `group-${i + 1}.json`);
  writeFileSync(file, `import { runGroup } from ${JSON.stringify(groupModule)};\nrunGroup(${JSON.stringify(g.files.map((f) => resolve(f.compiled)))}, ${JSON.stringify(costs)});\n`);
  return { path: file, time: g.time };
});
for (const f of direct) runs.push({ path: f.compiled, time: timeOf(f) });
runs.sort((a, b) => b.time - a.time);

try {
  // No --test-force-exit: with it node 20 may end a process before the last of its results reach the runner,
  // and those tests go uncounted. A group ends by itself; one a file left something running in ends when
  // runGroup says (that file fails, named).
  // The quick depth (test/helpers/fuzz.ts) unless the caller asks for another: SPIKESERVE_TEST_DEPTH=full.
  const env = { ...process.env, SPIKESERVE_TEST_DEPTH: process.env.SPIKESERVE_TEST_DEPTH || 'quick' };
  // The groups' processes turn node:test's async hook off once their tests are declared (scripts/test-unit-hooks.mjs).
  const hooks = isolated ? [] : ['--import', pathToFileURL(join(root, 'scripts/test-unit-hooks.mjs')).href];
  const r = spawnSync(process.execPath, [...hooks, '--test', ...concurrency, ...passed, ...runs.map((r) => r.path)], { stdio: 'inherit', env });
  // What each grouped file took, for the next run's groups (files run directly are not timed: they keep their last
  // figure); not when the arguments picked some tests only.
  for (const g of passed.every((a) => a.startsWith('--test-concurrency')) ? groups.keys() : []) {
    try {
      for (const [f, t] of Object.entries(JSON.parse(readFileSync(join(dir, `group-${g + 1}.json`), 'utf8')))) times[f] = Math.round(t.wallS * 100) / 100;
    } catch {
      // That group did not finish.
    }
  }
  writeFileSync(TIMES, JSON.stringify(times, null, 1) + '\n');
  process.exitCode = r.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
