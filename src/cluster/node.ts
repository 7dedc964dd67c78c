/**
 * This server as a node of a cluster: its connection to Redis, its
 * registration and heartbeat, and its side of the session directory (the
 * sessions it holds are claimed there under their epochs, at start and
 * again whenever Redis comes back, so a Redis that lost its data is filled
 * in again and a stale copy is found out and dropped). How requests find
 * their node is routing.ts; moving sessions is handoff.ts.
 */
import { Redis } from 'ioredis';
import type { NodeInfo, ClusterView } from '../api/cluster.js';
import { SpikeserveError } from '../errors.js';
import type { ManagerLog, SessionManager } from '../sessions/manager.js';
import { SessionDirectory, type Ownership } from './directory.js';
import { Forwarder } from './forward.js';
import { NodeIdentity } from './identity.js';
import { placeSession } from './placement.js';
import { NodeRegistry } from './registry.js';

export interface ClusterOptions {
  redisUrl: string;
  nodeId: string;
  advertiseUrl: string;
  heartbeatS: number;
  dataDir: string;
  capacitySynapses: number;
  sessions: SessionManager;
  log: ManagerLog & { warn(obj: object, msg: string): void };
}

/** Where a request for a session goes. */
export type Route = { kind: 'local' } | { kind: 'remote'; node: NodeInfo } | { kind: 'unavailable'; node: string };

/** Seconds a client is told to wait before retrying a session whose node is down: about one heartbeat expiry. */
export const UNAVAILABLE_RETRY_S = 2;

export class ClusterNode {
  readonly id: string;
  readonly redis: Redis;
  readonly registry: NodeRegistry;
  readonly directory: SessionDirectory;
  readonly identity: NodeIdentity;
  readonly forwarder = new Forwarder();
  private url: string;
  private heartbeat: NodeJS.Timeout | null = null;
  private draining = false;
  private readonly startedAt = new Date().toISOString();
  private readonly opts: ClusterOptions;

  private constructor(opts: ClusterOptions, redis: Redis, identity: NodeIdentity) {
    this.opts = opts;
    this.redis = redis;
    this.identity = identity;
    this.id = identity.nodeId;
    this.url = opts.advertiseUrl;
    this.registry = new NodeRegistry(redis);
    this.directory = new SessionDirectory(redis);
  }

  /** Connects to Redis (waiting for it if it is not up yet) and claims the sessions restored from DATA_DIR. */
  static async start(opts: ClusterOptions): Promise<ClusterNode> {
    const identity = NodeIdentity.load(opts.dataDir, opts.nodeId);
    const redis = new Redis(opts.redisUrl, {
      lazyConnect: true,
      // A command waits through a short outage, then fails: a request for a session elsewhere gets 503 rather than hanging.
      maxRetriesPerRequest: 2,
      retryStrategy: (attempt) => Math.min(100 * attempt, 1000),
    });
    const node = new ClusterNode(opts, redis, identity);
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
    const sessions = this.opts.sessions;
    const ids = sessions.list({ limit: Number.MAX_SAFE_INTEGER }).sessions.map((s) => s.id);
    for (const id of ids) {
      const r = await this.directory.claim(id, this.id, this.identity.epochOf(id));
      if (r.ok) continue;
      this.opts.log.warn({ sessionId: id, owner: r.owner, epoch: this.identity.epochOf(id) }, 'stale copy of a session that moved to another node: dropped here (fenced)');
      this.identity.forget(id);
      try {
        await sessions.delete(id);
      } catch {
        // gone already
      }
    }
  }

  /** The server listens: registers under its advertised URL and starts the heartbeat. */
  async listening(address: { host: string; port: number }): Promise<void> {
    if (this.url === '') this.url = `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
    await this.announce();
    const every = this.opts.heartbeatS * 1000;
    this.heartbeat = setInterval(() => {
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
    if (this.url === '') return Promise.resolve();
    return this.registry.announce(this.info(), this.opts.heartbeatS * 3000);
  }

  holds(id: string): boolean {
    try {
      this.opts.sessions.check(id);
      return true;
    } catch {
      return false;
    }
  }

  /** Where a request for session `id` goes: here if this node holds it (or nobody does: then it answers 404 itself), else its owner. */
  async route(id: string): Promise<Route> {
    if (this.holds(id)) return { kind: 'local' };
    let owner: Ownership | null;
    try {
      owner = await this.directory.lookup(id);
    } catch (e) {
      throw unavailable(id, null, `the cluster's session directory (Redis) cannot be reached: ${(e as Error).message}`);
    }
    if (owner === null || owner.node === this.id) return { kind: 'local' };
    const node = await this.registry.get(owner.node);
    return node === null ? { kind: 'unavailable', node: owner.node } : { kind: 'remote', node };
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

  /** A session was created here: its directory entry (and this node's load) before the client is told. */
  async created(id: string): Promise<void> {
    const r = await this.directory.claim(id, this.id, this.identity.epochOf(id));
    if (!r.ok) throw new Error(`session ${id} is already in the directory, owned by ${r.owner.node}`);
    await this.announce();
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

  setDraining(): void {
    this.draining = true;
  }

  /** Stops the heartbeat and closes the connections (the registration then expires by itself). */
  async close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    await this.forwarder.close();
    this.redis.disconnect();
  }
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
