/**
 * The nodes of the cluster, in Redis: each registers itself (id, advertised
 * URL, capacity, load) under a key that expires unless its heartbeat renews
 * it, so a node that dies or is cut off drops out within three heartbeats
 * without anyone having to notice.
 */
import type { Redis } from 'ioredis';
import { Value } from '@sinclair/typebox/value';
import { NodeInfoSchema, type NodeInfo } from '../api/cluster.js';
import { REDIS_KEYS } from './redis-keys.js';

export class NodeRegistry {
  constructor(private readonly redis: Redis) {}

  /** Registers (or renews) `info` for `ttlMs`. */
  async announce(info: NodeInfo, ttlMs: number): Promise<void> {
    await this.redis.multi().set(REDIS_KEYS.node(info.id), JSON.stringify(info), 'PX', Math.ceil(ttlMs)).sadd(REDIS_KEYS.nodes, info.id).exec();
  }

  /** Leaves the cluster for good (a drained node): no longer listed. */
  async leave(id: string): Promise<void> {
    await this.redis.multi().del(REDIS_KEYS.node(id)).srem(REDIS_KEYS.nodes, id).exec();
  }

  /** A node's current registration; null when it has none (stopped, dead, cut off). */
  async get(id: string): Promise<NodeInfo | null> {
    return parse(await this.redis.get(REDIS_KEYS.node(id)));
  }

  /** Every node that ever registered, by id: its registration, or null when it is not alive. */
  async all(): Promise<{ id: string; info: NodeInfo | null }[]> {
    const ids = (await this.redis.smembers(REDIS_KEYS.nodes)).sort();
    if (ids.length === 0) return [];
    const raw = await this.redis.mget(ids.map((id) => REDIS_KEYS.node(id)));
    return ids.map((id, i) => ({ id, info: parse(raw[i]) }));
  }

  /** The nodes alive now. */
  async alive(): Promise<NodeInfo[]> {
    return (await this.all()).flatMap((n) => (n.info ? [n.info] : []));
  }
}

function parse(raw: string | null): NodeInfo | null {
  if (raw === null) return null;
  try {
    const v: unknown = JSON.parse(raw);
    return Value.Check(NodeInfoSchema, v) ? v : null;
  } catch {
    return null;
  }
}
