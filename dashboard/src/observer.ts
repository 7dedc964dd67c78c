/**
 * The session page's live feed: an observer WebSocket on
 * /v1/sessions/{id}/ws?role=observer (README "WebSocket API"). An observer
 * cannot change the session, and the server drops (and counts) events an
 * observer is too slow to take rather than slow the controller, so watching
 * never costs the agent its speed.
 *
 * It subscribes to every step's spikes of the populations shown, to every
 * step's reward (a moving average needs them all; each is a 44-byte frame),
 * and to the weights every k steps, k chosen from the step rate so that
 * about WEIGHT_FRAMES_PER_S frames of at most WEIGHT_BYTES_PER_S arrive a
 * second, whatever the network's size or speed. Every stream comes in the
 * binary format (packed indices, float32 weights, float64 rewards: frames.ts). A dropped socket is
 * reopened with backoff, unless the session is gone. Of a batch it watches
 * one copy (setCopy): that copy's spikes, and its reward; the weights are
 * shared by every copy.
 */
import { ApiError, wsTicket } from './api.js';
import { FrameError, readFrame } from './frames.js';
import type { Layout } from './store.js';

const WEIGHT_FRAMES_PER_S = 8;
const WEIGHT_BYTES_PER_S = 4_000_000;
const RECONNECT_MS = [250, 500, 1000, 2000, 5000, 10000];

export interface ObserverEvents {
  onStatus(text: string, kind: 'live' | 'wait' | 'error'): void;
  onAuthError(): void;
  /** The session's step count, from the greeting or any event. */
  onStep(step: number): void;
  onSpikes(step: number, spikes: Record<string, ArrayLike<number>>): void;
  /** `pending`: the step's learning update waits for a reward, so these are the weights before it. */
  onWeights(step: number, weights: Record<string, ArrayLike<number>>, pending: boolean): void;
  /** The reward the learning update of `step` used, in the order the updates ran. */
  onReward(step: number, reward: number): void;
  onDropped(total: number): void;
  /** The stream ended for good (session deleted, evicted, ...): the reason to show. */
  onEnd(reason: string): void;
}

export interface Observer {
  /** Spikes of these populations only (none: no spike stream). */
  setPopulations(names: string[]): void;
  /** A batch: the copy whose spikes and rewards are reported from now on. */
  setCopy(copy: number): void;
  close(): void;
}

interface Hello {
  type: 'hello';
  protocol: number;
  role: string;
  session: { id: string; step: number };
  populations: { name: string; n: number }[];
  connections: { name: string; rows: number; cols: number }[];
}

/** The protocol version this page speaks. */
const PROTOCOL = 1;

export function observe(id: string, layout: Layout, events: ObserverEvents): Observer {
  let ws: WebSocket | null = null;
  let closed = false;
  let attempt = 0;
  let retryTimer: number | undefined;
  let populations = layout.populations.map((p) => p.name);
  let copy = 0;
  let hello: Hello | null = null;
  let weightsEvery = 0;
  let rateMark = { t: performance.now(), step: -1 };
  const synapses = layout.connections.reduce((a, c) => a + c.rows * c.cols, 0);

  const send = (msg: object) => {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  };
  const subscribeSpikes = () => {
    if (!hello) return;
    if (populations.length === 0) send({ type: 'unsubscribe', id: 'spikes', stream: 'spikes' });
    else send({ type: 'subscribe', id: 'spikes', stream: 'spikes', populations, ...(layout.batchSize > 1 ? { copies: [copy] } : {}), every: 1, format: 'binary' });
  };
  const subscribeWeights = (every: number) => {
    if (!hello || layout.connections.length === 0 || every === weightsEvery) return;
    weightsEvery = every;
    send({ type: 'subscribe', id: 'weights', stream: 'weights', every, format: 'binary' });
  };
  /** Re-chooses k for the weights from the step rate, once a second. */
  const adaptWeights = (step: number) => {
    const now = performance.now();
    if (rateMark.step < 0 || step < rateMark.step) rateMark = { t: now, step };
    if (now - rateMark.t < 1000) return;
    const stepsPerS = ((step - rateMark.step) * 1000) / (now - rateMark.t);
    rateMark = { t: now, step };
    const framesPerS = Math.min(WEIGHT_FRAMES_PER_S, WEIGHT_BYTES_PER_S / Math.max(1, 4 * synapses));
    const want = Math.max(1, Math.ceil(stepsPerS / framesPerS));
    // Only on a clear change: each subscribe is a message and a reply.
    if (want >= 2 * weightsEvery || want <= weightsEvery / 2) subscribeWeights(want);
  };

  /** The watched copy's reward (a batch's reward events have one per copy). */
  const rewardOf = (reward: unknown) => (Array.isArray(reward) ? Number(reward[copy]) : Number(reward));

  const onText = (text: string) => {
    let msg: { type?: string; [k: string]: unknown };
    try {
      msg = JSON.parse(text);
    } catch {
      events.onStatus('the server sent a message that is not JSON', 'error');
      return;
    }
    switch (msg.type) {
      case 'hello': {
        const h = msg as unknown as Hello;
        if (h.protocol !== PROTOCOL) {
          events.onEnd(`the server speaks WebSocket protocol ${h.protocol}; this page speaks ${PROTOCOL}: reload it`);
          shutdown(1000);
          return;
        }
        const same =
          h.populations.length === layout.populations.length &&
          h.populations.every((p, i) => p.name === layout.populations[i].name && p.n === layout.populations[i].n) &&
          h.connections.length === layout.connections.length &&
          h.connections.every((c, i) => c.name === layout.connections[i].name);
        if (!same) {
          events.onEnd('the session\'s network differs from the one this page loaded: reload it');
          shutdown(1000);
          return;
        }
        hello = h;
        attempt = 0;
        weightsEvery = 0;
        events.onStep(h.session.step);
        subscribeSpikes();
        send({ type: 'subscribe', id: 'rewards', stream: 'rewards', every: 1, format: 'binary' });
        // Start at one frame per step for small networks; adaptWeights then follows the step rate.
        subscribeWeights(Math.max(1, Math.ceil((4 * synapses) / WEIGHT_BYTES_PER_S)));
        events.onStatus('live', 'live');
        return;
      }
      case 'dropped':
        events.onDropped(Number(msg.total) || 0);
        // The events lost may have been the latest: the notice says where the session is.
        if (typeof msg.step === 'number') events.onStep(msg.step);
        return;
      case 'error': {
        const e = msg.error as { code?: string; message?: string } | undefined;
        events.onStatus(`${e?.code ?? 'ERROR'}: ${e?.message ?? 'the server refused a request'}`, 'error');
        return;
      }
      case 'spikes': {
        // A batch's come per copy: the one copy subscribed to (events of the copy watched before may still be on their way).
        const copies = msg.copies as number[] | undefined;
        if (copies !== undefined && copies[0] !== copy) return;
        const spikes = copies === undefined ? (msg.spikes as Record<string, number[]>) : Object.fromEntries(Object.entries(msg.spikes as Record<string, number[][]>).map(([p, c]) => [p, c[0]]));
        events.onSpikes(Number(msg.step), spikes);
        adaptWeights(Number(msg.step));
        return;
      }
      case 'reward':
        events.onReward(Number(msg.step), rewardOf(msg.reward));
        return;
      case 'weights': {
        const flat: Record<string, number[]> = {};
        for (const [name, rows] of Object.entries(msg.weights as Record<string, number[][]>)) flat[name] = rows.flat();
        events.onWeights(Number(msg.step), flat, msg.pending === true);
        return;
      }
      default:
        // Replies to the subscriptions, and message types newer than this page.
        return;
    }
  };

  const onBinary = (buf: ArrayBuffer) => {
    if (!hello) return;
    try {
      const f = readFrame(buf);
      if (f.kind === 'spikes') {
        if (f.copy !== null && f.copy !== copy) return;
        const spikes: Record<string, ArrayLike<number>> = {};
        for (const [i, list] of f.spikes) if (hello.populations[i]) spikes[hello.populations[i].name] = list;
        events.onSpikes(f.step, spikes);
        adaptWeights(f.step);
      } else if (f.kind === 'reward') {
        events.onReward(f.step, rewardOf(f.reward));
      } else {
        const weights: Record<string, ArrayLike<number>> = {};
        for (const [i, w] of f.weights) if (hello.connections[i]) weights[hello.connections[i].name] = w.values;
        events.onWeights(f.step, weights, f.pending);
      }
    } catch (e) {
      events.onStatus(e instanceof FrameError ? e.message : String(e), 'error');
    }
  };

  const connect = async () => {
    if (closed) return;
    hello = null;
    events.onStatus(attempt === 0 ? 'connecting' : `reconnecting (attempt ${attempt + 1})`, 'wait');
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const url = new URL(`${scheme}://${location.host}/v1/sessions/${encodeURIComponent(id)}/ws`);
    url.searchParams.set('role', 'observer');
    url.searchParams.set('format', 'binary');
    try {
      // A ticket is good for one connection: a new one for every attempt.
      const ticket = await wsTicket(id);
      if (ticket) url.searchParams.set('ticket', ticket);
    } catch (e) {
      if (closed) return;
      if (e instanceof ApiError && (e.isAuth || e.code === 'SESSION_NOT_FOUND')) {
        closed = true;
        events.onStatus(e.code, 'error');
        if (e.isAuth) events.onAuthError();
        events.onEnd(`No live stream: ${e.code}: ${e.message}`);
        return;
      }
      retry(e instanceof Error ? e.message : String(e));
      return;
    }
    if (closed) return;
    const sock = new WebSocket(url.href);
    sock.binaryType = 'arraybuffer';
    ws = sock;
    sock.onmessage = (ev) => {
      if (typeof ev.data === 'string') onText(ev.data);
      else onBinary(ev.data as ArrayBuffer);
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null;
      if (closed) return;
      const reason = ev.reason || `closed with code ${ev.code}`;
      // 4000 + an HTTP status: the server's refusals (README "Close codes").
      if (ev.code === 4404) {
        closed = true;
        events.onStatus('session gone', 'error');
        events.onEnd(`The session is gone (${reason}). Its last state stays on screen.`);
        return;
      }
      if (ev.code === 4401 || ev.code === 4403) {
        closed = true;
        events.onStatus('not allowed', 'error');
        events.onAuthError();
        events.onEnd(`The server refused the live stream (${reason}). Enter an API key that may see this session.`);
        return;
      }
      if (ev.code === 4400) {
        // A malformed request stays malformed: retrying would only repeat it.
        closed = true;
        events.onStatus('refused', 'error');
        events.onEnd(`The server refused the live stream (${reason}).`);
        return;
      }
      retry(reason);
    };
  };

  const retry = (why: string) => {
    const wait = RECONNECT_MS[Math.min(attempt, RECONNECT_MS.length - 1)];
    attempt++;
    events.onStatus(`stream lost (${why}); retrying in ${(wait / 1000).toFixed(1)} s`, 'wait');
    retryTimer = window.setTimeout(() => void connect(), wait);
  };

  const shutdown = (code: number) => {
    closed = true;
    window.clearTimeout(retryTimer);
    const sock = ws;
    ws = null;
    sock?.close(code);
  };

  void connect();
  return {
    setPopulations(names) {
      populations = layout.populations.map((p) => p.name).filter((n) => names.includes(n));
      subscribeSpikes();
    },
    setCopy(k) {
      copy = k;
      subscribeSpikes();
    },
    close() {
      shutdown(1000);
    },
  };
}
