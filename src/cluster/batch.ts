/**
 * POST /v1/batch/step over a cluster. The node asked runs the items of the
 * sessions it holds, and passes the others on to their owners, one batch per
 * owner holding every item of its sessions in the request's order (so each
 * session's items keep their order), each owner's reply landing at its
 * items' places. An item whose session is on a node that is down gets
 * SESSION_UNAVAILABLE, alone: the other items run. A batch an owner did not
 * run (it was draining, or had just stopped) is passed on again to the
 * sessions' new owners, as a single request is (routing.ts); items of a
 * session that is moving wait for it, then go where it went.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { BatchStepItem, BatchStepOutcome } from '../api/batch.js';
import { ForwardError, hopsOf } from './forward.js';
import { unavailable, type ClusterNode, type Route } from './node.js';
import { notRun, RETRY_EVERY_MS, RETRY_FOR_MS } from './pass-on.js';
import { MAX_HOPS } from './routing.js';

type ItemError = Extract<BatchStepOutcome, { ok: false }>['error'];

export interface BatchContext {
  headers: IncomingHttpHeaders;
  /** Runs items of sessions this node holds (or that nobody does), in their order, as a batch on one server does. */
  runHere(items: BatchStepItem[]): Promise<BatchStepOutcome[]>;
  /** An error as an item's outcome. */
  errorOf(e: unknown): ItemError;
}

export async function stepAcross(node: ClusterNode, items: BatchStepItem[], ctx: BatchContext): Promise<BatchStepOutcome[]> {
  const hops = hopsOf(ctx.headers);
  const out: (BatchStepOutcome | undefined)[] = new Array<BatchStepOutcome | undefined>(items.length);
  const until = performance.now() + RETRY_FOR_MS;
  let pending = items.map((_, i) => i);
  for (let round = 0; pending.length > 0; round++) {
    if (round > 0) await new Promise((r) => setTimeout(r, RETRY_EVERY_MS));
    const routes = new Map<string, Route | { kind: 'error'; error: unknown }>();
    await Promise.all(
      [...new Set(pending.map((i) => items[i].id))].map(async (id) => {
        if (await node.gates.whenOpen(id, () => node.holds(id) || hops >= MAX_HOPS)) return void routes.set(id, { kind: 'local' });
        // Asked again of Redis when a node passed the batch here (its memory was out of date) or on a retry.
        routes.set(id, await node.route(id, hops > 0 || round > 0).catch((error: unknown) => ({ kind: 'error' as const, error })));
      }),
    );
    const again: number[] = [];
    const here: number[] = [];
    const entered = new Map<string, () => void>();
    const byOwner = new Map<string, { url: string; indices: number[] }>();
    for (const i of pending) {
      const id = items[i].id;
      const r = routes.get(id)!;
      if (r.kind === 'local') {
        // Checked and counted in one turn, as a single request is: a move waits for what it counted.
        if (!entered.has(id)) {
          if (node.gates.waiting(id) !== null) {
            again.push(i);
            continue;
          }
          entered.set(id, node.gates.enter(id));
        }
        here.push(i);
      } else if (r.kind === 'remote') {
        const group = byOwner.get(r.node.id) ?? { url: r.node.url, indices: [] };
        group.indices.push(i);
        byOwner.set(r.node.id, group);
      } else if (r.kind === 'unavailable') {
        out[i] = { ok: false, error: ctx.errorOf(unavailable(id, r.node, `its node ${r.node} is not running`)) };
      } else {
        out[i] = { ok: false, error: ctx.errorOf(r.error) };
      }
    }
    const runs: Promise<void>[] = [];
    if (here.length > 0) {
      runs.push(
        ctx.runHere(here.map((i) => items[i])).then(
          (results) => here.forEach((i, k) => (out[i] = results[k])),
          (e: unknown) => here.forEach((i) => (out[i] = { ok: false, error: ctx.errorOf(e) })),
        ).finally(() => {
          for (const leave of entered.values()) leave();
        }),
      );
    }
    for (const [owner, { url, indices }] of byOwner) {
      runs.push(
        passOn(node, url, owner, indices.map((i) => items[i]), ctx, hops, performance.now() < until).then((r) => {
          if (r === 'not run') again.push(...indices);
          else indices.forEach((i, k) => (out[i] = r[k]));
        }),
      );
    }
    await Promise.all(runs);
    pending = again.sort((a, b) => a - b);
  }
  return out as BatchStepOutcome[];
}

/** One owner's items as a batch of their own: their outcomes, or 'not run' when the owner did not run them and `retry` allows another try. */
async function passOn(node: ClusterNode, url: string, owner: string, items: BatchStepItem[], ctx: BatchContext, hops: number, retry: boolean): Promise<BatchStepOutcome[] | 'not run'> {
  const all = (error: ItemError): BatchStepOutcome[] => items.map(() => ({ ok: false, error }));
  try {
    const res = await node.forwarder.forward(url, {
      method: 'POST',
      url: '/v1/batch/step',
      headers: { ...ctx.headers, 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify({ items })),
      hops,
    });
    if (res.status === 200) return (JSON.parse(res.body.toString('utf8')) as { results: BatchStepOutcome[] }).results;
    if (res.status === 503 && notRun(res) && retry) return 'not run';
    // The whole batch refused (a key, a limit): each of its items gets that error.
    const body = JSON.parse(res.body.toString('utf8')) as { error: ItemError };
    return all(body.error);
  } catch (e) {
    if (e instanceof ForwardError && e.notSent && retry) return 'not run';
    const why = e instanceof ForwardError && e.notSent ? e.message : `${(e as Error).message}; the steps may or may not have run: read the session's step`;
    return items.map((item) => ({ ok: false, error: ctx.errorOf(unavailable(item.id, owner, why)) }));
  }
}
