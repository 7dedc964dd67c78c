/**
 * The real server (`node dist/src/server.js`, as `npm start` runs it) as a
 * child process on 127.0.0.1 with an ephemeral port, for tests that kill it,
 * signal it or restart it on the same data directory.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface ServerProcess {
  child: ChildProcess;
  /** http://127.0.0.1:<port>, once it listens. */
  base: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
  errors(): string;
  /** Parsed JSON log lines so far. */
  lines(): Record<string, unknown>[];
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Command and arguments; default node dist/src/server.js. */
  command?: string[];
  cwd?: string;
  spawn?: Pick<SpawnOptions, 'uid' | 'gid'>;
  timeoutMs?: number;
}

export async function startServer(options: StartOptions = {}): Promise<ServerProcess> {
  const [cmd, ...args] = options.command ?? [process.execPath, 'dist/src/server.js'];
  const child = spawn(cmd, args, {
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...options.env },
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options.spawn,
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start: ${out} ${err}`));
    }, options.timeoutMs ?? 30_000);
    const check = () => {
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', check);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening: ${out} ${err}`));
    });
  });
  return {
    child,
    base,
    exited,
    output: () => out,
    errors: () => err,
    lines: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** Sends a JSON request; resolves with status and parsed body. */
export async function request(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const r = await fetch(base + path, init);
  const text = await r.text();
  const type = r.headers.get('content-type') ?? '';
  return { status: r.status, body: type.includes('json') && text !== '' ? JSON.parse(text) : text, headers: r.headers };
}
