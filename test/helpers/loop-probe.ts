/**
 * Measures how long a server keeps others waiting while it serves one heavy
 * request: /healthz is asked about every 10 ms (one at a time, on a
 * connection of its own, from a process of its own) while `work` runs, and
 * the slowest answer is reported.
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request with a body of bytes or text; the reply's body as bytes. */
export function rawRequest(base: string, method: string, path: string, options: { body?: Buffer | string; headers?: Record<string, string> } = {}): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(base + path, { method, headers: options.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

export interface Probed<T> {
  result: T;
  /** Slowest /healthz answer while `work` ran, in ms. */
  worstMs: number;
  /** /healthz answers received. */
  probes: number;
  /** How long `work` took, in ms. */
  workMs: number;
}

export async function probeDuring<T>(base: string, work: () => Promise<T>, everyMs = 10): Promise<Probed<T>> {
  // In a process of its own (healthz-probe.ts): this one receives the heavy reply, and would make the probe wait for that too.
  const probe = fork(fileURLToPath(new URL('./healthz-probe.js', import.meta.url)), [base, String(everyMs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => probe.once('exit', () => resolve()));
  const reply = (): Promise<unknown> =>
    new Promise((resolve, reject) => {
      probe.once('message', resolve);
      probe.once('exit', (code) => reject(new Error(`the /healthz probe exited (${code}) before it answered`)));
    });
  try {
    await reply();
    const t0 = performance.now();
    const result = await work();
    const workMs = performance.now() - t0;
    const answer = reply();
    probe.send('stop');
    const { worstMs, probes } = (await answer) as { worstMs: number; probes: number };
    return { result, worstMs, probes, workMs };
  } finally {
    if (probe.exitCode === null && probe.signalCode === null) probe.kill();
    await exited;
  }
}

/**
 * In-process, where no HTTP is involved: the longest gap between two turns
 * of this process's event loop (a timer asked for every millisecond) while
 * `work` runs, in ms: how long anything else the process serves would wait.
 */
export async function turnGapDuring<T>(work: () => Promise<T>): Promise<{ result: T; worstMs: number }> {
  let done = false;
  let worstMs = 0;
  let last = performance.now();
  const loop = (async () => {
    while (!done) {
      await new Promise((r) => setTimeout(r, 1));
      const now = performance.now();
      worstMs = Math.max(worstMs, now - last);
      last = now;
    }
  })();
  try {
    const result = await work();
    done = true;
    // The gap in progress counts too: the work's last piece may hold the loop right before it resolves.
    await loop;
    return { result, worstMs };
  } finally {
    done = true;
    await loop;
  }
}

const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;

/** Milliseconds this process's main thread has run so far (Linux's schedstat); elsewhere, the process's CPU time. */
function mainThreadMs(): number {
  try {
    return Number(readFileSync(SCHEDSTAT, 'latin1').split(' ')[0]) / 1e6;
  } catch {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }
}

/**
 * As turnGapDuring, but what is measured is how long the main thread itself
 * ran between two turns (the most over all gaps), in ms: work that holds the
 * event loop. Unlike the gap's wall time, the machine's load does not
 * stretch it (waiting for a core, or on the disk, is not running), so a
 * bound on it can sit close above what sliced work takes.
 */
export async function heldDuring<T>(work: () => Promise<T>): Promise<{ result: T; heldMs: number; worstMs: number }> {
  let done = false;
  let heldMs = 0;
  let worstMs = 0;
  let last = performance.now();
  let lastRan = mainThreadMs();
  const loop = (async () => {
    while (!done) {
      await new Promise((r) => setTimeout(r, 1));
      const now = performance.now();
      const ran = mainThreadMs();
      heldMs = Math.max(heldMs, ran - lastRan);
      worstMs = Math.max(worstMs, now - last);
      last = now;
      lastRan = ran;
    }
  })();
  try {
    const result = await work();
    done = true;
    await loop;
    return { result, heldMs, worstMs };
  } finally {
    done = true;
    await loop;
  }
}
