/**
 * The session directory, in Redis: session id -> the node that owns it and
 * its ownership epoch. The epoch is a fencing token: it grows by one each
 * time the session moves, and every change is a compare-and-set on it (a
 * Lua script, atomic in Redis), so a node holding an older copy (one that
 * was cut off, or came back from an old disk) cannot take the session back.
 * Each node's set of sessions is kept beside, in the same scripts.
 */
import type { Redis } from 'ioredis';
import { REDIS_KEYS } from './redis-keys.js';

export interface Ownership {
  node: string;
  epoch: number;
}

const SETS_PREFIX = REDIS_KEYS.nodeSessions('');

/**
 * KEYS[1] the entry; ARGV: session id, node, epoch, sets prefix. Takes the
 * entry unless another node holds it at this epoch or later. An entry that
 * already names the claimant stands as it is, its epoch returned (the node
 * may have stopped between taking a session and writing its epoch down).
 */
const CLAIM = `
local cur = redis.call('HMGET', KEYS[1], 'node', 'epoch')
local epoch = tonumber(ARGV[3])
if cur[1] then
  local curEpoch = tonumber(cur[2])
  if cur[1] == ARGV[2] then
    redis.call('SADD', ARGV[4] .. ARGV[2], ARGV[1])
    return {1, cur[1], cur[2]}
  end
  if curEpoch >= epoch then return {0, cur[1], cur[2]} end
  redis.call('SREM', ARGV[4] .. cur[1], ARGV[1])
end
redis.call('HSET', KEYS[1], 'node', ARGV[2], 'epoch', ARGV[3])
redis.call('SADD', ARGV[4] .. ARGV[2], ARGV[1])
return {1, ARGV[2], ARGV[3]}
`;

/** KEYS[1] the entry; ARGV: session id, from, epoch, to, sets prefix. Moves it only from its owner at that epoch; returns the new epoch, or 0. */
const TRANSFER = `
local cur = redis.call('HMGET', KEYS[1], 'node', 'epoch')
if cur[1] ~= ARGV[2] or tonumber(cur[2]) ~= tonumber(ARGV[3]) then return 0 end
local epoch = tonumber(ARGV[3]) + 1
redis.call('HSET', KEYS[1], 'node', ARGV[4], 'epoch', epoch)
redis.call('SREM', ARGV[5] .. ARGV[2], ARGV[1])
redis.call('SADD', ARGV[5] .. ARGV[4], ARGV[1])
return epoch
`;

/** KEYS[1] the entry; ARGV: session id, node, sets prefix. Removes it if that node owns it. */
const RELEASE = `
local cur = redis.call('HGET', KEYS[1], 'node')
if cur ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', ARGV[3] .. ARGV[2], ARGV[1])
return 1
`;

export class SessionDirectory {
  constructor(private readonly redis: Redis) {}

  async lookup(id: string): Promise<Ownership | null> {
    const [node, epoch] = await this.redis.hmget(REDIS_KEYS.session(id), 'node', 'epoch');
    return node === null || epoch === null ? null : { node, epoch: Number(epoch) };
  }

  /**
   * Records `node` as the owner at `epoch`, unless the entry is another's at
   * that epoch or a later one: then the claimant's copy is stale (fenced),
   * and the current owner is returned with ok false. With ok true, `owner`
   * has the epoch the entry holds.
   */
  async claim(id: string, node: string, epoch: number): Promise<{ ok: boolean; owner: Ownership }> {
    const r = (await this.redis.eval(CLAIM, 1, REDIS_KEYS.session(id), id, node, String(epoch), SETS_PREFIX)) as [number, string, string];
    return { ok: r[0] === 1, owner: { node: r[1], epoch: Number(r[2]) } };
  }

  /** Hands the session from `from` (at `epoch`) to `to`; the new epoch, or null if `from` did not own it at that epoch. */
  async transfer(id: string, from: string, epoch: number, to: string): Promise<number | null> {
    const r = (await this.redis.eval(TRANSFER, 1, REDIS_KEYS.session(id), id, from, String(epoch), to, SETS_PREFIX)) as number;
    return r === 0 ? null : r;
  }

  /** Drops the entry of a deleted session, if `node` owns it. */
  async release(id: string, node: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, REDIS_KEYS.session(id), id, node, SETS_PREFIX);
  }

  /** How many sessions the directory gives each of `nodes`. */
  async counts(nodes: string[]): Promise<number[]> {
    if (nodes.length === 0) return [];
    const p = this.redis.pipeline();
    for (const n of nodes) p.scard(REDIS_KEYS.nodeSessions(n));
    const out = (await p.exec()) ?? [];
    return out.map(([err, v]) => (err ? 0 : Number(v)));
  }
}
