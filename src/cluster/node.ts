/**
 * This server as a node of a cluster: its connection to Redis, its
 * registration and heartbeat, and its side of the session directory (the
 * sessions it holds are claimed there under their epochs, at start and
 * again whenever Redis comes back, so a Redis that lost its data is filled
 * in again and a stale copy is found out and dropped). How requests find
 * their node is routing.ts; moving sessions is handoff.ts.
 */
import type { Redis } from 'ioredis';
import type { NodeInfo, ClusterView } from '../api/cluster.js';
import type { SessionSummary } from '../api/sessions.js';
import { SpikeserveError } from '../errors.js';
import type { ManagerLog, Owner, SessionManager } from '../sessions/manager.js';
import { SessionDirectory, type Ownership } from './directory.js';
import { Forwarder } from './forward.js';
import { SessionGates } from './gates.js';
import { Handoff } from './handoff.js';
import { NodeIdentity } from './identity.js';
import { placeSession } from './placement.js';
import { ClusterQuotas, type Quota } from './quotas.js';
import { REDIS_KEYS } from './redis-keys.js';
import { NodeRegistry } from './registry.js';

export interface ClusterOptions {
  redisUrl: string;
  nodeId: string;
  advertiseUrl: string;
  heartbeatS: number;
  dataDir: string;
  capacitySynapses: number;
  /** Per API key, over the cluster (QUOTA_SESSIONS, QUOTA_SYNAPSES); 0 is none. */
  quota: Quota;
  sessions: SessionManager;
  log: ManagerLog & { warn(obj: object, msg: string): void };
}

/** Where a request for a session goes. */
export type Route = { kind: 'local' } | { kind: 'remote'; node: NodeInfo } | { kind: 'unavailable'; node: string };

/** Seconds a client is told to wait before retrying a session whose node is down: about one heartbeat expiry. */
export const UNAVAILABLE_RETRY_S = 2;
/** Sessions whose owner a node remembers at most (then it starts again from none). */
const MAX_REMEMBERED = 100_000;

export class ClusterNode {
  readonly id: string;
  readonly redis: Redis;
  readonly registry: NodeRegistry;
  readonly directory: SessionDirectory;
  readonly identity: NodeIdentity;
  readonly forwarder: Forwarder;
  readonly gates = new SessionGates();
  readonly quotas: ClusterQuotas;
  /** Owner last found for sessions held elsewhere (route()). */
  private readonly owners = new Map<string, string>();
  /** The other nodes alive at the last heartbeat, by id. */
  private peers = new Map<string, NodeInfo>();
  private readonly handoff: Handoff;
  private disconnect: (sessionId: string, message: string) => void = () => {};
  private url: string;
  private heartbeat: NodeJS.Timeout | null = null;
  private draining = false;
  /**
   * Set when a drained node leaves the registry: from then on nothing
   * registers it again (a heartbeat, a session's removal, Redis coming
   * back), or it would be listed alive, and asked for sessions, after it
   * has exited, until its registration expired.
   */
  private left = false;
  private readonly startedAt = new Date().toISOString();
  private readonly opts: ClusterOptions;

  private constructor(opts: ClusterOptions, redis: Redis, identity: NodeIdentity, forwarder: Forwarder) {
    this.opts = opts;
    this.redis = redis;
    this.forwarder = forwarder;
    this.identity = identity;
    this.id = identity.nodeId;
    this.url = opts.advertiseUrl;
    this.registry = new NodeRegistry(redis);
    this.directory = new SessionDirectory(redis);
    this.quotas = new ClusterQuotas(this.directory, opts.quota, () => Date.now() - this.settleMs());
    // However a session leaves for good (deleted, evicted, past its retention), its entry and its count go.
    opts.sessions.on('removed', (id) => {
      this.deleted(id).catch((err: unknown) => opts.log.warn({ err: { message: (err as Error).message }, sessionId: id }, 'removed session still in the session directory: taken out when Redis is back'));
    });
    this.handoff = new Handoff({
      nodeId: this.id,
      redis,
      directory: this.directory,
      identity,
      sessions: opts.sessions,
      gates: this.gates,
      disconnect: (id, message) => this.disconnect(id, message),
      announce: () => this.announce(),
      draining: () => this.draining,
      log: opts.log,
    });
  }

  /** How this node closes a session's sockets (its WebSocket endpoint, attached after the node starts). */
  useSockets(disconnect: (sessionId: string, message: string) => void): void {
    this.disconnect = disconnect;
  }

  /** Connects to Redis (waiting for it if it is not up yet) and claims the sessions restored from DATA_DIR. */
  static async start(opts: ClusterOptions): Promise<ClusterNode> {
    const identity = NodeIdentity.load(opts.dataDir, opts.nodeId);
    // Loaded here, not with the module: a server that is not in a cluster never loads its Redis and HTTP clients.
    const [{ Redis }, { Pool }] = await Promise.all([import('ioredis'), import('undici')]);
    const redis = new Redis(opts.redisUrl, {
      lazyConnect: true,
      // A command waits through a short outage, then fails: a request for a session elsewhere gets 503 rather than hanging.
      maxRetriesPerRequest: 2,
      retryStrategy: (attempt) => Math.min(100 * attempt, 1000),
    });
    const node = new ClusterNode(opts, redis, identity, new Forwarder(Pool));
    let first = true;
    redis.on('error', (err) => opts.log.warn({ err: { message: err.message } }, 'Redis connection error'));
    redis.on('ready', () => {
      if (first) {
        first = false;
        return;
      }
      opts.log.info({ node: node.id }, 'Redis is back: claiming this node\'s sessions again');
      node.reconcile().then(() => node.announce(), (err) => opts.log.error({ err }, 'claiming sessions after Redis came back failed'));
    });
    for (;;) {
      try {
        await redis.connect();
        break;
      } catch (err) {
        opts.log.warn({ err: { message: (err as Error).message } }, 'cannot reach Redis (REDIS_URL) yet: retrying');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    await node.reconcile();
    return node;
  }

  /**
   * Claims every session this node holds under its epoch. One the directory
   * gives another node at its epoch or a later one moved away while this
   * copy was left behind (a node cut off, or back from an old disk): it is
   * dropped here, never served.
   */
  async reconcile(): Promise<void> {
    await this.redis.set(REDIS_KEYS.directorySince, String(Date.now()), 'NX');
    const sessions = this.opts.sessions;
    for (const { id, owner, synapses } of sessions.holdings()) {
      const r = await this.directory.claim(id, this.id, this.identity.epochOf(id), this.quotas.counted(owner, synapses, false));
      if (r.ok) {
        if (r.owner.epoch !== this.identity.epochOf(id)) this.identity.setEpoch(id, r.owner.epoch);
        continue;
      }
      if (!('owner' in r)) continue;
      this.opts.log.warn({ sessionId: id, owner: r.owner, epoch: this.identity.epochOf(id) }, 'stale copy of a session that moved to another node: dropped here (fenced)');
      this.identity.forget(id);
      try {
        await sessions.delete(id);
      } catch {
        // gone already
      }
    }
    // Entries of sessions deleted here while Redis could not be reached: their entries and counts go now.
    for (const id of await this.directory.sessionsOf(this.id)) {
      if (!this.holds(id)) await this.directory.release(id, this.id);
    }
  }

  /** How long after the directory began to be filled every node has claimed its sessions in it. */
  private settleMs(): number {
    return Math.max(5000, this.opts.heartbeatS * 3000 + 2000);
  }

  /**
   * A session missing from the directory is unknown only once every node
   * has had time to claim its sessions in this Redis: after a Redis that
   * lost its data comes back, the first heartbeats' worth of misses are
   * "not yet", not "not found".
   */
  private async directorySettled(): Promise<boolean> {
    let since: string | null;
    try {
      since = await this.redis.get(REDIS_KEYS.directorySince);
    } catch (e) {
      throw unavailable('', null, `the cluster's session directory (Redis) cannot be reached: ${(e as Error).message}`);
    }
    return since !== null && Date.now() - Number(since) > this.settleMs();
  }

  /** The server listens: registers under its advertised URL and starts the heartbeat. */
  async listening(address: { host: string; port: number }): Promise<void> {
    if (this.url === '') this.url = `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
    await this.announce();
    this.handoff.start();
    const every = this.opts.heartbeatS * 1000;
    await this.refreshPeers();
    this.heartbeat = setInterval(() => {
      this.refreshPeers().catch(() => {});
      this.announce().catch(() => {
        // Redis is away: the 'ready' handler claims and announces again when it is back.
      });
    }, every);
    this.heartbeat.unref();
  }

  info(): NodeInfo {
    const s = this.opts.sessions;
    return {
      id: this.id,
      url: this.url,
      capacitySynapses: this.opts.capacitySynapses,
      synapses: s.totalSynapses,
      sessions: s.size + s.dormantCount,
      draining: this.draining,
      startedAt: this.startedAt,
    };
  }

  /** Renews the registration now, with the current load (also after each creation, so that placement sees it). */
  announce(): Promise<void> {
    if (this.url === '' || this.left) return Promise.resolve();
    return this.registry.announce(this.info(), this.opts.heartbeatS * 3000);
  }

  holds(id: string): boolean {
    return this.opts.sessions.has(id);
  }

  /**
   * Where a request for session `id` goes: here if this node holds it (or
   * nobody does: then it answers 404 itself), else its owner. The owner last
   * found for a session, and the nodes alive at the last heartbeat, are
   * remembered, so that a request passed on costs no call to Redis; `fresh`
   * asks Redis (after a forward failed, or when a request was passed here by
   * a node whose memory was out of date).
   */
  async route(id: string, fresh = false): Promise<Route> {
    if (this.holds(id)) return { kind: 'local' };
    if (!fresh) {
      const node = this.rememberedOwner(id);
      if (node !== null) return { kind: 'remote', node };
    }
    let owner: Ownership | null;
    try {
      owner = await this.directory.lookup(id);
    } catch (e) {
      throw unavailable(id, null, `the cluster's session directory (Redis) cannot be reached: ${(e as Error).message}`);
    }
    if (owner === null && !(await this.directorySettled())) {
      throw unavailable(id, null, 'the session directory is being filled in again (Redis restarted without its data)');
    }
    if (owner === null || owner.node === this.id) return { kind: 'local' };
    const node = await this.registry.get(owner.node);
    if (node === null) {
      this.peers.delete(owner.node);
      return { kind: 'unavailable', node: owner.node };
    }
    if (this.owners.size >= MAX_REMEMBERED) this.owners.clear();
    this.owners.set(id, node.id);
    this.peers.set(node.id, node);
    return { kind: 'remote', node };
  }

  /** The owner last found for a session not held here, if it was alive at the last heartbeat: route() without Redis. */
  rememberedOwner(id: string): NodeInfo | null {
    if (this.holds(id)) return null;
    return this.peers.get(this.owners.get(id) ?? '') ?? null;
  }

  /** The nodes alive now, as the registry has them: what route() trusts until the next heartbeat. */
  private async refreshPeers(): Promise<void> {
    const alive = await this.registry.alive();
    this.peers = new Map(alive.filter((n) => n.id !== this.id).map((n) => [n.id, n]));
  }

  /** The node a new session goes to: `pin` if given (and alive), else the one with the most free capacity. */
  async place(pin: string | undefined): Promise<NodeInfo> {
    if (pin !== undefined && pin !== '') {
      if (pin === this.id) return this.info();
      const n = await this.registry.get(pin);
      if (n === null) throw new SpikeserveError('SESSION_UNAVAILABLE', `node "${pin}" is not in the cluster now; leave out the spikeserve-place-on header to let the cluster choose`, { node: pin, retryAfterSeconds: UNAVAILABLE_RETRY_S });
      return n;
    }
    const nodes = (await this.registry.alive()).filter((n) => n.id !== this.id);
    nodes.push(this.info());
    return placeSession(nodes) ?? this.info();
  }

  /**
   * A session was created here: its directory entry, counted against its
   * API key's quotas over the cluster, before the client is told. Throws
   * QUOTA_EXCEEDED when the key's sessions on the other nodes leave it no
   * room (the caller deletes the session again).
   */
  async created(id: string): Promise<void> {
    const held = this.opts.sessions.holding(id);
    if (held === null) throw new Error(`session ${id} is not held here`);
    const r = await this.directory.claim(id, this.id, this.identity.epochOf(id), this.quotas.counted(held.owner, held.synapses, true));
    const refused = this.quotas.refusal(r, held.synapses);
    if (refused) throw refused;
    if (!r.ok) throw new Error(`session ${id} is already in the directory, owned by ${'owner' in r ? r.owner.node : '?'}`);
    await this.announce();
  }

  /** Before a session is built here for `owner`: refuses a key at its quota of sessions over the cluster. */
  async precheckCreate(owner: Owner): Promise<void> {
    try {
      await this.quotas.precheck(owner);
    } catch (e) {
      if (e instanceof SpikeserveError) throw e;
      throw redisUnavailable(e);
    }
  }

  /** A session here was deleted: its directory entry goes. */
  async deleted(id: string): Promise<void> {
    this.identity.forget(id);
    await this.directory.release(id, this.id);
    await this.announce();
  }

  async view(): Promise<ClusterView> {
    const all = await this.registry.all();
    const counts = await this.directory.counts(all.map((n) => n.id));
    return {
      mode: 'cluster',
      node: this.id,
      nodes: all.map((n, i) => ({
        ...(n.id === this.id ? this.info() : (n.info ?? offline(n.id))),
        alive: n.id === this.id || n.info !== null,
        directorySessions: counts[i],
      })),
    };
  }

  get sessions(): SessionManager {
    return this.opts.sessions;
  }

  /** This node's advertised URL (known once it listens). */
  selfUrl(): string {
    return this.url;
  }

  /** Moves session `id` to node `to` (handoff.ts); false if it stays here. */
  moveOut(id: string, to: NodeInfo): Promise<boolean> {
    return this.handoff.moveOut(id, to);
  }

  /**
   * SIGTERM in a cluster: no new session is placed here, and every session
   * this node holds moves to the other nodes (each to the one with the most
   * free capacity at the time), until `deadline` (a performance.now() time).
   * Requests keep being served meanwhile: a moving session's requests wait
   * for it, then go where it went. Sessions that could not move (no other
   * node, or time ran out) stay on this node's disk for its next start.
   * Returns how many moved and how many stayed.
   */
  async drain(deadline: number): Promise<{ moved: number; stayed: number }> {
    this.draining = true;
    await this.announce().catch(() => {});
    const summaries = new Map(this.opts.sessions.list({ limit: Number.MAX_SAFE_INTEGER }).sessions.map((s) => [s.id, s]));
    const ids = [...summaries.keys()];
    let moved = 0;
    const others = (await this.registry.alive().catch(() => [])).filter((n) => n.id !== this.id && !n.draining);
    for (const id of ids) {
      if (performance.now() > deadline) break;
      const target = placeSession(others);
      if (target === null) break;
      const summary = summaries.get(id)!;
      if (await this.moveOut(id, target)) {
        moved++;
        // What the target now holds, for the next choice, without waiting for its heartbeat.
        target.synapses += synapsesOf(summary);
        target.sessions++;
      }
    }
    const stayed = this.opts.sessions.size + this.opts.sessions.dormantCount;
    if (stayed === 0) {
      // Before the leave is sent: an announce already sent reaches Redis first, on the same connection.
      this.left = true;
      await this.registry.leave(this.id).catch(() => {});
    }
    return { moved, stayed };
  }

  /** Stops the heartbeat and closes the connections (the registration then expires by itself). */
  async close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    await this.handoff.stop();
    await this.forwarder.close();
    this.redis.disconnect();
  }
}

function synapsesOf(summary: SessionSummary): number {
  let n = 0;
  for (const c of Object.values(summary.connections)) n += summary.populations[c.pre] * summary.populations[c.post];
  return n;
}

function offline(id: string): NodeInfo {
  return { id, url: '', capacitySynapses: 0, synapses: 0, sessions: 0, draining: false, startedAt: new Date(0).toISOString() };
}

export function unavailable(id: string, node: string | null, why: string): SpikeserveError {
  return new SpikeserveError(
    'SESSION_UNAVAILABLE',
    `session ${id} cannot be reached now: ${why}; it is kept on its node's disk and answers again once that node is back: retry`,
    { sessionId: id, ...(node === null ? {} : { node }), retryAfterSeconds: UNAVAILABLE_RETRY_S },
  );
}

/** A request that needs the cluster's Redis while it cannot be reached. */
export function redisUnavailable(e: unknown): SpikeserveError {
  return new SpikeserveError('SESSION_UNAVAILABLE', `the cluster's Redis cannot be reached now (${(e as Error).message}): retry`, { retryAfterSeconds: UNAVAILABLE_RETRY_S });
}
