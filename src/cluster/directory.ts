/**
 * The session directory, in Redis: session id -> the node that owns it and
 * its ownership epoch. The epoch is a fencing token: it grows by one each
 * time the session moves, and every change is a compare-and-set on it (a
 * Lua script, atomic in Redis), so a node holding an older copy (one that
 * was cut off, or came back from an old disk) cannot take the session back.
 * Each node's set of sessions is kept beside, in the same scripts, and so
 * are each API key's sessions and the synapses over them: the key's quotas
 * hold over the whole cluster, a session counted once whichever node holds
 * it, moves included.
 */
import type { Redis } from 'ioredis';
import { REDIS_KEYS } from './redis-keys.js';

export interface Ownership {
  node: string;
  epoch: number;
}

const SETS_PREFIX = REDIS_KEYS.nodeSessions('');
const KEY_SESSIONS_PREFIX = REDIS_KEYS.keySessions('');
const KEY_USAGE_PREFIX = REDIS_KEYS.keyUsage('');
const REFUSALS = ['sessions', 'synapses', 'incomplete'] as const;

/**
 * KEYS[1] the entry, KEYS[2] its API key's sessions, KEYS[3] that key's sums;
 * ARGV: session id, node, epoch, sets prefix, key name, synapses, quota of
 * sessions, quota of synapses (0: none), the directory-since key, and the
 * latest directory-since at which counts are complete.
 *
 * Takes the entry unless another node holds it at this epoch or later. An
 * entry that already names the claimant stands as it is, its epoch returned
 * (the node may have stopped between taking a session and writing its epoch
 * down). The session is counted once against its key, in the same step: a
 * session counted already (claimed again, moved) is not counted twice; one
 * not counted yet is refused when it would take the key past a quota, or
 * when the counts may be short (Redis filled in again not long ago).
 */
const CLAIM = `
local cur = redis.call('HMGET', KEYS[1], 'node', 'epoch')
local epoch = tonumber(ARGV[3])
if cur[1] and cur[1] ~= ARGV[2] and tonumber(cur[2]) >= epoch then return {0, cur[1], cur[2]} end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then
  local synapses = tonumber(ARGV[6])
  local maxSessions = tonumber(ARGV[7])
  local maxSynapses = tonumber(ARGV[8])
  local used = redis.call('HMGET', KEYS[3], 'sessions', 'synapses')
  local n = tonumber(used[1] or '0')
  local syn = tonumber(used[2] or '0')
  if maxSessions > 0 or maxSynapses > 0 then
    local since = tonumber(redis.call('GET', ARGV[9]) or '')
    if since == nil or since > tonumber(ARGV[10]) then return {-3, tostring(n), tostring(syn)} end
    if maxSessions > 0 and n >= maxSessions then return {-1, tostring(n), tostring(syn)} end
    if maxSynapses > 0 and syn + synapses > maxSynapses then return {-2, tostring(n), tostring(syn)} end
  end
  redis.call('HSET', KEYS[2], ARGV[1], synapses)
  redis.call('HINCRBY', KEYS[3], 'sessions', 1)
  redis.call('HINCRBY', KEYS[3], 'synapses', synapses)
end
if cur[1] == ARGV[2] then
  redis.call('HSET', KEYS[1], 'key', ARGV[5])
  redis.call('SADD', ARGV[4] .. ARGV[2], ARGV[1])
  return {1, cur[1], cur[2]}
end
if cur[1] then redis.call('SREM', ARGV[4] .. cur[1], ARGV[1]) end
redis.call('HSET', KEYS[1], 'node', ARGV[2], 'epoch', ARGV[3], 'key', ARGV[5])
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

/**
 * KEYS[1] the entry; ARGV: session id, node, sets prefix, key-sessions
 * prefix, key-usage prefix. Removes it if that node owns it, and takes the
 * session off its API key's counts.
 */
const RELEASE = `
local cur = redis.call('HMGET', KEYS[1], 'node', 'key')
if cur[1] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', ARGV[3] .. ARGV[2], ARGV[1])
if cur[2] then
  local synapses = redis.call('HGET', ARGV[4] .. cur[2], ARGV[1])
  if synapses then
    redis.call('HDEL', ARGV[4] .. cur[2], ARGV[1])
    redis.call('HINCRBY', ARGV[5] .. cur[2], 'sessions', -1)
    redis.call('HINCRBY', ARGV[5] .. cur[2], 'synapses', -tonumber(synapses))
  end
end
return 1
`;

/** A session as its API key's quotas count it. */
export interface Counted {
  /** The key's name in Redis (quotas.ts). */
  key: string;
  synapses: number;
  /**
   * The key's quotas, when a session not counted yet may be refused (a
   * creation): 0 is no quota; `completeSince` is the latest time the
   * directory may have begun to be filled for the counts to be complete.
   */
  quota?: { sessions: number; synapses: number; completeSince: number };
}

export type ClaimResult =
  | { ok: true; owner: Ownership }
  /** Another node holds the entry at this epoch or a later one: the claimant's copy is stale. */
  | { ok: false; owner: Ownership }
  /** Counting it would take its key past a quota, or the counts may be short now: nothing was changed. */
  | { ok: false; refused: 'sessions' | 'synapses' | 'incomplete'; used: { sessions: number; synapses: number } };

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
   * has the epoch the entry holds, and the session counts against its key.
   */
  async claim(id: string, node: string, epoch: number, counted: Counted): Promise<ClaimResult> {
    const q = counted.quota ?? { sessions: 0, synapses: 0, completeSince: 0 };
    const r = (await this.redis.eval(
      CLAIM,
      3,
      REDIS_KEYS.session(id),
      REDIS_KEYS.keySessions(counted.key),
      REDIS_KEYS.keyUsage(counted.key),
      id,
      node,
      String(epoch),
      SETS_PREFIX,
      counted.key,
      String(counted.synapses),
      String(q.sessions),
      String(q.synapses),
      REDIS_KEYS.directorySince,
      String(q.completeSince),
    )) as [number, string, string];
    if (r[0] < 0) return { ok: false, refused: REFUSALS[-r[0] - 1], used: { sessions: Number(r[1]), synapses: Number(r[2]) } };
    return { ok: r[0] === 1, owner: { node: r[1], epoch: Number(r[2]) } } as ClaimResult;
  }

  /** Hands session `id` from `from` (at `epoch`) to `to`; the new epoch, or null if `from` did not own it at that epoch. */
  async transfer(move: { id: string; from: string; epoch: number }, to: string): Promise<number | null> {
    const { id, from, epoch } = move;
    const r = (await this.redis.eval(TRANSFER, 1, REDIS_KEYS.session(id), id, from, String(epoch), to, SETS_PREFIX)) as number;
    return r === 0 ? null : r;
  }

  /** Drops the entry of a deleted session, if `node` owns it, and its count against its key. */
  async release(id: string, node: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, REDIS_KEYS.session(id), id, node, SETS_PREFIX, KEY_SESSIONS_PREFIX, KEY_USAGE_PREFIX);
  }

  /** The sessions ids the directory gives `node`. */
  sessionsOf(node: string): Promise<string[]> {
    return this.redis.smembers(REDIS_KEYS.nodeSessions(node));
  }

  /** What an API key holds over the cluster: its sessions and the synapses over them. */
  async usage(key: string): Promise<{ sessions: number; synapses: number }> {
    const [n, syn] = await this.redis.hmget(REDIS_KEYS.keyUsage(key), 'sessions', 'synapses');
    return { sessions: Number(n ?? 0), synapses: Number(syn ?? 0) };
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
