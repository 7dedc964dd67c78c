/**
 * The container as the Dockerfile builds and runs it, without a Docker
 * engine (there is none here): from a clean checkout filtered by
 * .dockerignore, the build stage's build command is run; the runtime
 * directory is assembled from exactly what the runtime stage copies, with
 * the production dependencies only (what `npm ci --omit=dev` installs from
 * the same lockfile); then the image's ENTRYPOINT + CMD run there with its
 * ENV, as its non-root user, with the data directory as a volume would be.
 * The HEALTHCHECK command must pass, the API must work with a key as
 * docker-compose.yml passes it, SIGTERM must end it with 0 well within the
 * compose stop grace period, and a second start must find the sessions on the
 * volume. Also checks what cannot be run here: the stages, the non-root
 * user, the volume, tini, compose's named volume, restart policy and grace.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { request, startServer } from './helpers/server.js';

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name: string;
  steps: Instruction[];
}

/** Dockerfile instructions by stage (line continuations joined, comments dropped). */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (cur === '' && (line.trim() === '' || line.trim().startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      cur += line.slice(0, -1) + ' ';
      continue;
    }
    logical.push((cur + line).trim());
    cur = '';
  }
  const stages: Stage[] = [];
  for (const l of logical) {
    const m = /^(\w+)\s+(.*)$/.exec(l);
    assert.ok(m, `instruction: ${l}`);
    const op = m[1].toUpperCase();
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(m[2])!;
      stages.push({ from: f[1], name: f[2] ?? String(stages.length), steps: [] });
    } else {
      stages.at(-1)!.steps.push({ op, args: m[2].replace(/\s+/g, ' ') });
    }
  }
  return stages;
}

function json(args: string): string[] {
  const v = JSON.parse(args) as unknown;
  assert.ok(Array.isArray(v), `exec form expected: ${args}`);
  return v as string[];
}

/** ENV k=v pairs (the forms this Dockerfile uses). */
function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const s of stage.steps.filter((s) => s.op === 'ENV')) for (const [, k, v] of s.args.matchAll(/(\w+)=(\S+)/g)) env[k] = v;
  return env;
}

/** A .dockerignore pattern as a test on a path relative to the context (the forms used: names and *.ext). */
function ignored(patterns: string[], path: string): boolean {
  const top = path.split('/')[0];
  return patterns.some((p) => (p.startsWith('*.') ? path.endsWith(p.slice(1)) : top === p || path === p));
}

const ROOT = resolve('.');
const work = mkdtempSync(join(tmpdir(), 'spikeserve-docker-'));
chmodSync(work, 0o755);
after(() => rmSync(work, { recursive: true, force: true }));

test('the Dockerfile\'s build and runtime stages, run from a clean checkout: the service starts, is healthy, serves, stops with 0 and keeps its volume', async (t) => {
  const stages = parseDockerfile(readFileSync('Dockerfile', 'utf8'));
  const [build, deps, runtime] = [stages.find((s) => s.name === 'build'), stages.find((s) => s.name === 'deps'), stages.at(-1)!];
  assert.ok(build && deps && stages.length >= 3, 'multi-stage: build, deps, runtime');
  assert.match(runtime.from, /^node:20-bookworm-slim$/, 'a small runtime base');
  assert.ok(deps.steps.some((s) => s.op === 'RUN' && /npm ci --omit=dev/.test(s.args)), 'production dependencies by npm ci --omit=dev');
  const user = runtime.steps.filter((s) => s.op === 'USER').at(-1)?.args;
  assert.equal(user, 'node', 'runs as the image\'s non-root user');
  const env = envOf(runtime);
  assert.equal(env.HOST, '0.0.0.0');
  assert.ok(runtime.steps.some((s) => s.op === 'VOLUME' && s.args.includes(env.DATA_DIR)), 'DATA_DIR is a volume');
  const entrypoint = json(runtime.steps.find((s) => s.op === 'ENTRYPOINT')!.args);
  assert.deepEqual(entrypoint, ['/usr/bin/tini', '--']);
  assert.ok(runtime.steps.some((s) => s.op === 'RUN' && /apt-get install .*\btini\b/.test(s.args)), 'tini is installed in the runtime image');
  const cmd = json(runtime.steps.find((s) => s.op === 'CMD')!.args);
  const health = runtime.steps.find((s) => s.op === 'HEALTHCHECK')!.args;
  assert.match(health, /\/readyz/);
  const healthCmd = json(health.slice(health.indexOf('CMD ') + 4));
  const workdir = runtime.steps.find((s) => s.op === 'WORKDIR')!.args;

  // docker-compose.yml: a named volume on DATA_DIR, keys and limits from the environment, a restart policy, and a stop grace period longer than the shutdown.
  const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as {
    services: Record<string, { build: string; environment: Record<string, string>; volumes: string[]; restart: string; stop_grace_period: string }>;
    volumes: Record<string, unknown>;
  };
  const svc = compose.services.spikeserve;
  assert.equal(svc.build, '.');
  const [volName, volPath] = svc.volumes[0].split(':');
  assert.ok(volName in compose.volumes, 'a named volume');
  assert.equal(volPath, env.DATA_DIR);
  assert.match(svc.environment.API_KEYS, /^\$\{SPIKESERVE_API_KEYS:\?/);
  assert.match(svc.restart, /unless-stopped|always|on-failure/);
  const grace = Number(/^(\d+)s$/.exec(svc.stop_grace_period)![1]);
  assert.ok(grace > Number(svc.environment.SHUTDOWN_TIMEOUT_S), 'compose waits longer than the server\'s shutdown');
  assert.ok(Number(env.SHUTDOWN_TIMEOUT_S) < 10, 'the image\'s own shutdown fits docker\'s default 10 s stop timeout');

  // The build context: a clean checkout (tracked files, and new ones git would take), less .dockerignore.
  const ignore = readFileSync('.dockerignore', 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' }).split('\0').filter((f) => f !== '' && existsSync(f));
  const context = files.filter((f) => !ignored(ignore, f));
  assert.ok(context.includes('package-lock.json') && context.includes('src/server.ts'));
  assert.ok(!context.some((f) => f.startsWith('node_modules/') || f.startsWith('data/') || f.startsWith('dist/')));

  // Build stage: COPY the context, the stage's npm ci (the checkout's node_modules stands in: same lockfile), then its build command.
  const buildDir = join(work, 'build');
  for (const f of context) cpSync(f, join(buildDir, f));
  symlinkSync(join(ROOT, 'node_modules'), join(buildDir, 'node_modules'));
  const buildRuns = build.steps.filter((s) => s.op === 'RUN').map((s) => s.args);
  assert.deepEqual(buildRuns, ['npm ci --no-audit --no-fund', 'npm run build']);
  execFileSync('sh', ['-c', buildRuns[1]], { cwd: buildDir, stdio: 'pipe', timeout: 180_000 });

  // Deps stage: exactly the packages npm ci --omit=dev installs from the lockfile (not dev), hard-linked from the checkout's install.
  const depsDir = join(work, 'deps');
  const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean }> };
  let prod = 0;
  for (const [path, p] of Object.entries(lock.packages)) {
    if (path === '' || p.dev || !existsSync(path)) continue;
    mkdirSync(dirname(join(depsDir, path)), { recursive: true });
    if (!existsSync(join(depsDir, path))) execFileSync('cp', ['-al', path, join(depsDir, path)]);
    prod++;
  }
  assert.ok(!existsSync(join(depsDir, 'node_modules/typescript')), 'no dev dependency in the runtime');
  t.diagnostic(`${prod} production packages`);

  // Runtime stage: its COPY instructions, into a directory standing for WORKDIR.
  const app = join(work, 'app');
  const stageDirs: Record<string, string> = { build: buildDir, deps: depsDir };
  for (const s of runtime.steps.filter((s) => s.op === 'COPY')) {
    const parts = s.args.split(' ').filter((p) => !p.startsWith('--chown'));
    const from = /^--from=(\S+)$/.exec(parts[0]);
    const [src, dst] = from ? parts.slice(1) : parts;
    const base = from ? stageDirs[from[1]] : buildDir;
    const rel = (p: string) => (p.startsWith(workdir + '/') ? p.slice(workdir.length + 1) : p);
    const target = join(app, rel(dst) === './' ? '' : rel(dst));
    const source = join(base, rel(src));
    assert.ok(existsSync(source), `COPY source ${src} exists in stage ${from?.[1] ?? 'context'}`);
    cpSync(source, dst.endsWith('/') && !src.endsWith('/') && !existsSync(source + '/.') ? join(target, src.split('/').pop()!) : target, { recursive: true, verbatimSymlinks: true });
  }
  assert.ok(existsSync(join(app, 'dist/src/server.js')) && existsSync(join(app, 'node_modules/fastify')) && existsSync(join(app, 'package.json')));
  assert.ok(!existsSync(join(app, 'dist/test')), 'tests stay out of the image');

  // The volume, owned by the image's user (uid 1000 in node images) as its RUN chown makes it.
  const volume = join(work, 'volume');
  mkdirSync(volume);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) chownSync(volume, 1000, 1000);
  const tini = existsSync(entrypoint[0]);
  if (!tini) t.diagnostic(`${entrypoint[0]} is not on this machine: running CMD without it`);
  const command = [...(tini ? entrypoint : []), ...cmd];
  const secret = 'docker-test-secret-0123456789';
  // The image's ENV, but for what a container maps: the volume's path, and the address. Tests listen on
  // loopback only; the image's HOST=0.0.0.0 is checked below, where it refuses to start without keys.
  const runEnv = { ...env, HOST: '127.0.0.1', DATA_DIR: volume, PORT: '0', API_KEYS: `ci:${secret}`, LOG_LEVEL: 'info', PATH: process.env.PATH ?? '' };
  const startImage = () =>
    startServer({
      command: command.map((c) => (c === 'node' ? process.execPath : c)),
      cwd: app,
      env: runEnv,
      spawn: asRoot ? { uid: 1000, gid: 1000 } : {},
    });

  const first = await startImage();
  const port = new URL(first.base).port;
  const healthy = execFileSync(process.execPath, healthCmd.slice(1), { env: { ...process.env, PORT: port }, stdio: 'pipe' });
  assert.equal(healthy.length, 0);
  const auth = { authorization: `Bearer ${secret}` };
  assert.equal((await request(first.base, 'GET', '/v1/sessions')).status, 401);
  const created = await request(first.base, 'POST', '/v1/sessions', { network: { populations: { a: { n: 3 } } } }, auth);
  assert.equal(created.status, 201);
  assert.equal((await request(first.base, 'POST', `/v1/sessions/${created.body.id}/step`, { steps: 7 }, auth)).body.step, 7);
  const t0 = Date.now();
  first.child.kill('SIGTERM');
  assert.deepEqual(await first.exited, { code: 0, signal: null });
  assert.ok(Date.now() - t0 < grace * 1000);

  const second = await startImage();
  try {
    const back = await request(second.base, 'GET', `/v1/sessions/${created.body.id}`, undefined, auth);
    assert.equal(back.status, 200);
    assert.equal(back.body.step, 7);
  } finally {
    second.child.kill('SIGTERM');
    assert.equal((await second.exited).code, 0);
  }

  // Without a key the image refuses to start on 0.0.0.0, naming what to set.
  await assert.rejects(startServer({ command: [process.execPath, ...cmd.slice(1)], cwd: app, env: { ...runEnv, HOST: env.HOST, API_KEYS: '' } }), /HOST: 0\.0\.0\.0 can be reached from other machines and API_KEYS is empty/);
});
