/**
 * A client of the seed's MSTDP task for cluster fault tests, over HTTP,
 * sending each request to the next node of a list. It behaves as a careful
 * client behind a balancer: a request refused at connect, or answered 503
 * SHUTTING_DOWN (not run), goes to the next node; 503 SESSION_UNAVAILABLE is
 * waited out (its Retry-After is checked); and when a request's fate is
 * unknown (its connection was cut) it reads the session's step and pending
 * flag to learn whether the command ran, so that every command runs exactly
 * once. What it saw is counted.
 */
import assert from 'node:assert/strict';
import type { TaskPlayer } from './seed-mstdp-task.js';

export interface PlayerLog {
  /** Whether the output fired, step by step: the trajectory. */
  fired: boolean[];
  /** Replies neither 200 nor one of the answers above (each a failure a client would have to handle). */
  failures: { status: number; code?: string }[];
  unavailable: number;
  /** Requests passed to the next node (refused at connect, or 503 SHUTTING_DOWN). */
  passedOn: number;
  /** Commands whose fate was read back from the session after their connection was cut. */
  recovered: number;
}

type Reply = { status: number; body: any; headers: Headers } | { cut: Error; sent: boolean };

async function send(base: string, method: string, path: string, body?: unknown): Promise<Reply> {
  try {
    const r = await fetch(base + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text === '' ? null : JSON.parse(text), headers: r.headers };
  } catch (e) {
    const code = (e as { cause?: { code?: string } }).cause?.code;
    return { cut: e as Error, sent: code !== 'ECONNREFUSED' };
  }
}

/** `from`: the session's step count when this player takes over (0: a new session). */
export function clusterPlayer(bases: () => string[], id: string, from = 0): { player: TaskPlayer; log: PlayerLog } {
  const log: PlayerLog = { fired: [], failures: [], unavailable: 0, passedOn: 0, recovered: 0 };
  let turn = 0;
  let step = from;
  let pending = false;
  const next = () => {
    const list = bases();
    return list[turn++ % list.length];
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** The session's state, read through whichever node answers. */
  async function state(): Promise<{ step: number; pending: boolean; fired: boolean }> {
    for (;;) {
      const r = await send(next(), 'GET', `/v1/sessions/${id}/state`);
      if ('status' in r && r.status === 200) return { step: r.body.step, pending: r.body.pending, fired: r.body.populations.post.spikes.length > 0 };
      await sleep(50);
    }
  }

  /** Runs one command exactly once; `ran` tells from (step, pending) whether it has run. */
  async function command(path: string, body: unknown, ran: (s: { step: number; pending: boolean }) => boolean): Promise<{ body: any } | { state: { fired: boolean } }> {
    for (;;) {
      const r = await send(next(), 'POST', `/v1/sessions/${id}${path}`, body);
      if ('cut' in r) {
        if (!r.sent) {
          log.passedOn++;
          continue;
        }
        const s = await state();
        if (ran(s)) {
          log.recovered++;
          return { state: s };
        }
        continue;
      }
      if (r.status === 200) return { body: r.body };
      const code = r.body?.error?.code;
      if (r.status === 503 && code === 'SHUTTING_DOWN') {
        log.passedOn++;
        continue;
      }
      if (r.status === 503 && code === 'SESSION_UNAVAILABLE') {
        log.unavailable++;
        assert.ok(Number(r.headers.get('retry-after')) >= 1, 'SESSION_UNAVAILABLE says when to retry');
        // Its fate may be unknown too (the owner died with it in flight): the state tells, once the node is back.
        const s = await state();
        if (ran(s)) {
          log.recovered++;
          return { state: s };
        }
        continue;
      }
      log.failures.push({ status: r.status, code });
      await sleep(50);
    }
  }

  const player: TaskPlayer = {
    step: async (pre) => {
      const before = step;
      const r = await command('/step', { inputs: { pre }, deferReward: true, return: { populations: ['post'] } }, (s) => s.step === before + 1 && s.pending);
      step++;
      pending = true;
      const fired = 'body' in r ? r.body.spikes.post[0].length > 0 : r.state.fired;
      log.fired.push(fired);
      return fired;
    },
    reward: async (reward) => {
      const at = step;
      assert.ok(pending);
      await command('/reward', { reward }, (s) => s.step === at && !s.pending);
      pending = false;
    },
  };
  return { player, log };
}
