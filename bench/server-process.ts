/**
 * The service as `npm start` runs it, in a process of its own on 127.0.0.1
 * and a free port, for benchmarks that must not share a core with their
 * client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export const HOST = '127.0.0.1';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, HOST, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  base: string;
  stop(): Promise<void>;
}

export interface ServerLaunch {
  /** Runs the server on this core only (taskset), so that it neither takes nor lends time across cores. */
  cpu?: number;
  /** Node options before the script (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

/** Starts dist/src/server.js with `env` on top of this process's environment; resolves once /readyz answers. */
export async function startServer(env: Record<string, string>, launch: ServerLaunch = {}): Promise<ServerProcess> {
  const port = await freePort();
  const args = [...(launch.nodeArgs ?? []), 'dist/src/server.js'];
  const [command, argv] = launch.cpu === undefined ? [process.execPath, args] : ['taskset', ['-c', String(launch.cpu), process.execPath, ...args]];
  const child = spawn(command, argv, {
    env: { ...process.env, HOST, PORT: String(port), ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://${HOST}:${port}`;
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.ok) return { child, port, base, stop };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error('server did not start');
}
