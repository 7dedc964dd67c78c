/**
 * `npm run build`, and what `npm start`, `npm test` and `npm ci` (prepare) run
 * first: compiles what changed since the last build, and nothing when nothing
 * did, so that a start after an install does not wait for a compiler.
 *
 * - TypeScript: `tsc -b` on the server and the dashboard projects, both
 *   incremental (their .tsbuildinfo files are in dist/).
 * - The dashboard bundle (esbuild, into dist/dashboard): only when a file
 *   under dashboard/ (or this script) is newer than the bundle.
 *
 * Before loading either compiler it compares modification times itself: no
 * source newer than the last build means nothing to do.
 *
 * Plain JavaScript, as it runs before anything is compiled. Without the dev
 * dependencies (`npm ci --omit=dev`, as the Dockerfile's deps stage runs)
 * there is no compiler: the install's prepare step then skips the build, and
 * any other run says what to install. Without sources (the Dockerfile's
 * `npm ci`, before the sources are copied) prepare does not reach this file.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);

const TS_PROJECTS = ['tsconfig.json', 'dashboard/tsconfig.json'];
/** Where each project records its last build (tsBuildInfoFile in each tsconfig). */
const TS_RECORDS = ['dist/tsconfig.tsbuildinfo', 'dist/dashboard.tsbuildinfo'];
const SELF = 'scripts/build.mjs';
/** The folders tsconfig.json compiles into dist/ (its "include"). */
const COMPILED_DIRS = ['src', 'routes', 'test', 'bench', 'examples', 'scripts'];
const DASHBOARD_OUT = 'dist/dashboard';
const DASHBOARD_ENTRIES = ['dashboard/index.html', 'dashboard/favicon.svg', 'dashboard/src/main.ts', 'dashboard/src/style.css'];
const DASHBOARD_OUTPUTS = ['index.html', 'favicon.svg', 'main.js', 'style.css'].map((f) => join(DASHBOARD_OUT, f));
/** Not sources: never looked at when deciding whether to build. */
const NOT_SOURCES = new Set(['node_modules', 'dist', 'data', 'test-output', '.git', 'docs']);
const SOURCE = /\.(ts|mts|json|html|css|svg|mjs)$/;

/** The newest modification time (ms) of the source files under dir, and of its folders (a file removed dates its folder). */
function newest(dir, skip = new Set()) {
  let t = statSync(dir).mtimeMs;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (skip.has(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (e.isFile() && SOURCE.test(e.name)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/** The oldest modification time (ms) of files, 0 when one is missing. */
function oldest(files) {
  let t = Infinity;
  for (const f of files) {
    if (!existsSync(f)) return 0;
    t = Math.min(t, statSync(f).mtimeMs);
  }
  return t;
}

/** Compiled files whose source is gone (tsc leaves them): a test removed must not still run from dist/. */
function prune(dir) {
  if (!existsSync(join('dist', dir))) return;
  for (const e of readdirSync(join('dist', dir), { withFileTypes: true })) {
    const rel = join(dir, e.name);
    if (e.isDirectory()) prune(rel);
    else if (/\.js(\.map)?$/.test(e.name) && !existsSync(rel.replace(/\.js(\.map)?$/, '.ts'))) rmSync(join('dist', rel));
  }
}

const dashboardStale = () => Math.max(newest('dashboard'), statSync(SELF).mtimeMs) > oldest(DASHBOARD_OUTPUTS);
const tsStale = () => newest('.', NOT_SOURCES) > oldest(TS_RECORDS);

const tsWanted = tsStale();
const bundleWanted = dashboardStale();
if (!tsWanted && !bundleWanted) process.exit(0);

const require = createRequire(import.meta.url);
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  if (process.env.npm_lifecycle_event === 'prepare') {
    // npm ci --omit=dev: a runtime install, whose dist/ is built elsewhere.
    process.stdout.write('spikeserve: not building (the dev dependencies, TypeScript among them, are not installed)\n');
    process.exit(0);
  }
  process.stderr.write('spikeserve: the sources changed since dist/ was built, and TypeScript is not installed: run npm ci (with the dev dependencies) to build\n');
  process.exit(1);
}

if (tsWanted) {
  const started = new Date();
  const r = spawnSync(process.execPath, [tsc, '-b', ...TS_PROJECTS], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
  chmodSync('dist/src/cli.js', 0o755);
  for (const dir of COMPILED_DIRS) prune(dir);
  // tsc leaves its records as they were when it finds nothing to compile (a
  // file other than a project's, such as package.json, changed): dated from
  // this build's start, the next run need not ask it again.
  for (const f of TS_RECORDS) if (statSync(f).mtimeMs < started.getTime()) utimesSync(f, started, started);
}

if (bundleWanted) {
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: DASHBOARD_ENTRIES,
    bundle: true,
    loader: { '.html': 'copy', '.svg': 'copy' },
    outdir: DASHBOARD_OUT,
    entryNames: '[name]',
    format: 'esm',
    target: 'es2020',
    minify: true,
    sourcemap: true,
    logLevel: 'warning',
  });
}
