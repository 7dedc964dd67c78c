/**
 * Moving a session from one node to another, through Redis:
 *
 * 1. the old owner shuts the session's gate (new requests wait), closes its
 *    sockets (1001: clients connect again) and waits for the requests in
 *    progress; it writes the session's snapshot (as hibernation does), puts
 *    the saved form in Redis and a note in the new owner's inbox;
 * 2. the new owner saves the session to its own database (durably), then
 *    moves the directory entry to itself with a compare-and-set on the old
 *    owner and epoch (the epoch grows by one), and says so;
 * 3. the old owner, told, deletes its copy (only now: the new owner has it on
 *    disk) and opens the gate: the waiting requests go to the new owner.
 *
 * If the new owner fails or is silent, the old owner raises the epoch under
 * itself (the same compare-and-set), so a late new owner cannot take the
 * entry, and serves the session again. A node that stops between the steps
 * is found out by its next start: the directory says who owns the session,
 * and the stale copy is dropped (node.ts).
 */
import type { Redis } from 'ioredis';
import type { NodeInfo } from '../api/cluster.js';
import type { ManagerLog, SavedSession, SessionManager } from '../sessions/manager.js';
import type { SessionDirectory } from './directory.js';
import type { SessionGates } from './gates.js';
import type { NodeIdentity } from './identity.js';
import { REDIS_KEYS } from './redis-keys.js';

/** How long the saved form and the answer stay in Redis. */
const HANDOFF_TTL_MS = 120_000;
/** How long an old owner waits for the new one, and for its own requests in progress. */
const MOVE_TIMEOUT_MS = 30_000;
const POLL_MS = 10;

interface Note {
  id: string;
  from: string;
  epoch: number;
}

interface Outcome {
  ok: boolean;
  error?: string;
}

export interface HandoffContext {
  nodeId: string;
  redis: Redis;
  directory: SessionDirectory;
  identity: NodeIdentity;
  sessions: SessionManager;
  gates: SessionGates;
  /** Closes the session's sockets so that their clients connect again. */
  disconnect(sessionId: string, message: string): void;
  /** The node's load changed: registers it now. */
  announce(): Promise<void>;
  /** True while the node drains: it takes no sessions then. */
  draining(): boolean;
  log: ManagerLog & { warn(obj: object, msg: string): void };
}

export class Handoff {
  private inbox: Redis | null = null;
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(private readonly ctx: HandoffContext) {}

  /** Moves session `id` to node `to`; true once `to` owns it, false if it stays here (the reason is logged). */
  async moveOut(id: string, to: NodeInfo): Promise<boolean> {
    const { ctx } = this;
    const epoch = ctx.identity.epochOf(id);
    ctx.gates.close(id);
    try {
      ctx.disconnect(id, 'the session is moving to another node; connect again');
      if (!(await ctx.gates.idle(id, MOVE_TIMEOUT_MS))) throw new Error('requests in progress did not finish');
      const saved = await ctx.sessions.exportSaved(id);
      await ctx.redis.set(REDIS_KEYS.handoff(id), encode(saved), 'PX', HANDOFF_TTL_MS);
      await ctx.redis.del(REDIS_KEYS.handoffDone(id));
      await ctx.redis.rpush(REDIS_KEYS.inbox(to.id), JSON.stringify({ id, from: ctx.nodeId, epoch } satisfies Note));
      const outcome = await this.outcome(id);
      if (!outcome.ok) {
        // Raise the epoch under this node: a new owner answering late cannot take the entry now.
        const raised = await ctx.directory.transfer({ id, from: ctx.nodeId, epoch }, ctx.nodeId);
        if (raised !== null) {
          ctx.identity.setEpoch(id, raised);
          ctx.log.warn({ sessionId: id, to: to.id, reason: outcome.error }, 'session did not move: it stays on this node');
          return false;
        }
        // The new owner took it after all.
      }
      await ctx.sessions.delete(id);
      ctx.identity.forget(id);
      await ctx.redis.del(REDIS_KEYS.handoff(id), REDIS_KEYS.handoffDone(id));
      ctx.log.info({ sessionId: id, to: to.id }, 'session moved to another node');
      return true;
    } catch (err) {
      ctx.log.warn({ sessionId: id, to: to.id, err: { message: (err as Error).message } }, 'session did not move: it stays on this node');
      return false;
    } finally {
      ctx.gates.reopen(id);
      void ctx.announce().catch(() => {});
    }
  }

  private async outcome(id: string): Promise<Outcome> {
    const until = performance.now() + MOVE_TIMEOUT_MS;
    while (performance.now() < until) {
      const raw = await this.ctx.redis.get(REDIS_KEYS.handoffDone(id));
      if (raw !== null) return JSON.parse(raw) as Outcome;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    return { ok: false, error: 'the new node did not answer in time' };
  }

  /** Starts taking the sessions other nodes send here (on a connection of its own: it blocks on the inbox). */
  start(): void {
    const inbox = this.ctx.redis.duplicate();
    this.inbox = inbox;
    this.loop = (async () => {
      while (!this.stopped) {
        let popped: [string, string] | null;
        try {
          popped = await inbox.blpop(REDIS_KEYS.inbox(this.ctx.nodeId), 1);
        } catch {
          if (this.stopped) return;
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        if (popped) await this.take(JSON.parse(popped[1]) as Note);
      }
    })();
  }

  /** Takes one session in, and tells its old owner how it went. */
  private async take(note: Note): Promise<void> {
    const { ctx } = this;
    let outcome: Outcome;
    try {
      if (ctx.draining()) throw new Error('the node is draining');
      const raw = await ctx.redis.getBuffer(REDIS_KEYS.handoff(note.id));
      if (raw === null) throw new Error('its saved form is not in Redis');
      await ctx.sessions.importSaved(decode(raw));
      const epoch = await ctx.directory.transfer(note, ctx.nodeId);
      if (epoch === null) {
        await ctx.sessions.delete(note.id);
        throw new Error(`the directory no longer gives it to ${note.from} at epoch ${note.epoch}`);
      }
      ctx.identity.setEpoch(note.id, epoch);
      outcome = { ok: true };
      ctx.log.info({ sessionId: note.id, from: note.from, epoch }, 'session moved here from another node');
      void ctx.announce().catch(() => {});
    } catch (err) {
      outcome = { ok: false, error: (err as Error).message };
      ctx.log.warn({ sessionId: note.id, from: note.from, err: { message: (err as Error).message } }, 'session from another node refused');
    }
    await ctx.redis.set(REDIS_KEYS.handoffDone(note.id), JSON.stringify(outcome), 'PX', HANDOFF_TTL_MS).catch(() => {});
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop?.catch(() => {});
    this.inbox?.disconnect();
  }
}

/** [header length: u32][header JSON: fields, backend, meta][snapshot data] */
function encode(saved: SavedSession): Buffer {
  const header = Buffer.from(JSON.stringify({ fields: saved.fields, backend: saved.backend, meta: saved.meta }));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(header.length);
  return Buffer.concat([len, header, saved.data]);
}

function decode(raw: Buffer): SavedSession {
  const n = raw.readUInt32BE(0);
  const header = JSON.parse(raw.subarray(4, 4 + n).toString('utf8')) as Omit<SavedSession, 'data'>;
  return { ...header, data: Buffer.from(raw.subarray(4 + n)) };
}
