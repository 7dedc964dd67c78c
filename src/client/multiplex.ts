/**
 * A typed client for the multiplexed WebSocket (/v1/ws, docs/websocket.md):
 * one socket driving many sessions. Each method names the session it is for,
 * and stepBatch steps many in one message (the result of POST
 * /v1/batch/step: an outcome per item). Requests may be sent without
 * waiting; replies come in request order and are matched first in, first out.
 *
 * A socket that drops (1001: the server shutting down or draining, a
 * session moving; a network cut) is opened again by itself, as SessionSocket
 * is (reconnect.ts), with the same answers on the unanswered commands
 * (resume.ts): its hello names no session, so it reads each session those
 * commands change over HTTP (`readSession`, which rest.multiplex() gives).
 */
import WebSocket from 'ws';
import type { BatchStepItem, BatchStepResult } from '../api/batch.js';
import type { AllWeights, ConnectionWeights } from '../api/state.js';
import type { ResetBody, ResetResult, RewardResult, StepBody, StepResult } from '../api/step.js';
import type { MuxErrorMessage, MuxHelloMessage, MuxMessageType, MuxReplyMessage } from '../api/ws-multiplex.js';
import type { Snapshot } from '../engine/snapshot.js';
import { SpikeserveClientError } from './errors.js';
import { gaveUp, mayReconnect, reopen } from './reconnect.js';
import { commandLost, fatesOf, ranOf, type Effect, type Ran, type SessionPoint } from './resume.js';
import { SocketLifecycle, type QueuedRequest } from './socket-lifecycle.js';
import { openSocket, settle, type CloseInfo, type OpenOptions } from './transport.js';

export interface MultiplexOptions extends OpenOptions {
  /**
   * Open the socket again when it drops, and resume (default true; needs
   * `readSession`): the tries and the closes that end them are
   * SessionSocket's. With false, a drop fails every request waiting.
   */
  reconnect?: boolean;
  /**
   * Reads a session's step count and whether an update is pending (GET
   * /v1/sessions/{id}; rest.multiplex() gives it): after a drop, what tells
   * which unanswered commands ran. Without it the socket does not reconnect.
   */
  readSession?: (id: string) => Promise<SessionPoint>;
}

type Message = { type: MuxMessageType } & Record<string, unknown>;

interface Pending extends QueuedRequest {
  request: MuxMessageType;
  /** What it does to each session it names (none for a read). */
  effects: Effect[];
  resolve: (v: never) => void;
}

/** Refusals of a session read that pass: its node is starting, busy or handing it over. */
const PASSING_READ_REFUSALS = new Set(['SESSION_UNAVAILABLE', 'OVERLOADED', 'SHUTTING_DOWN']);
const MAX_READ_ATTEMPTS = 8;

/** What a command does to the sessions it names, as resuming replays it. */
function effectsOf(m: Message): Effect[] {
  const step = (session: unknown, f: Record<string, unknown>): Effect => ({ session: String(session), kind: 'step', steps: Number(f.steps ?? 1), defer: f.deferReward === true });
  switch (m.type) {
    case 'step':
      return [step(m.session, m)];
    case 'step_batch':
      return (m.items as Record<string, unknown>[]).map((i) => step(i.id, i));
    case 'reward':
      return [{ session: String(m.session), kind: 'reward', steps: 0, defer: false }];
    case 'reset':
    case 'set_weights':
      return [{ session: String(m.session), kind: 'opaque', steps: 0, defer: false }];
    default:
      return [];
  }
}

export class MultiplexSocket extends SocketLifecycle<Pending, MuxHelloMessage> {
  /** A drop of the new socket while resuming on it. */
  private droppedAgain: CloseInfo | null = null;
  /** Each session's (step, pending) after the last acknowledged command about it. */
  private readonly acked = new Map<string, SessionPoint>();

  private constructor(
    ws: WebSocket,
    hello: MuxHelloMessage,
    private readonly url: URL,
    private readonly options: MultiplexOptions,
  ) {
    super(ws, hello);
  }

  /**
   * Opens the socket (url: ws://host:port/v1/ws) and resolves with it once
   * the hello has arrived. rest.multiplex() gives `readSession`, without
   * which it does not reconnect.
   */
  static async connect(url: string, options: MultiplexOptions = {}): Promise<MultiplexSocket> {
    const u = new URL(url);
    const { ws, hello } = await openSocket<MuxHelloMessage>(u, options);
    return new MultiplexSocket(ws, hello, u, options);
  }

  protected override onClose(info: CloseInfo): void {
    if (this.recovering) return void (this.droppedAgain = info);
    const reconnect = this.options.reconnect !== false && this.options.readSession !== undefined;
    if (this.closing || !reconnect || !mayReconnect(info.code)) return this.finish(info);
    void this.recover(info);
  }

  /** Opens the socket again, resumes the commands in flight (again if the new socket drops meanwhile), or gives up. */
  private async recover(info: CloseInfo): Promise<void> {
    this.recovering = true;
    for (;;) {
      const opened = await reopen<MuxHelloMessage>(this.url, this.options, () => this.closing);
      if ('failure' in opened) return this.finish(gaveUp(info, opened.failure));
      this.reconnects++;
      this.droppedAgain = null;
      this.ws = opened.ws;
      this.currentHello = opened.hello;
      this.attach(opened.ws);
      await this.resumeAfterDrop();
      if (this.droppedAgain === null) {
        this.recovering = false;
        return;
      }
      info = this.droppedAgain;
      if (this.closing || !mayReconnect(info.code)) return this.finish(info);
    }
  }

  /** After a reconnection: fails the commands that ran (or may have) without a reply, sends the rest again in order. */
  private async resumeAfterDrop(): Promise<void> {
    const waiting = this.pending.takeAll();
    const unanswered = waiting.filter((p) => p.sent);
    const ran = await this.ran(unanswered.flatMap((p) => (p.effects.length > 0 ? [p.effects] : [])));
    const verdicts = fatesOf(
      unanswered.map((p) => p.effects.length > 0),
      ran,
    );
    const again: Pending[] = [];
    unanswered.forEach((p, i) => {
      const v = verdicts[i];
      if (v === 'resend') again.push(p);
      else p.reject(commandLost(p.request, v.lost));
    });
    // Requests made while resuming come after those that waited before.
    for (const p of [...again, ...waiting.filter((w) => !w.sent), ...this.pending.takeAll()]) {
      p.sent = this.ws.readyState === WebSocket.OPEN;
      this.pending.push(p);
      if (p.sent) this.ws.send(p.text);
    }
  }

  /** How many of the unanswered commands that change sessions ran, from the sessions' states read now; null if it cannot be told. */
  private async ran(commands: Effect[][]): Promise<Ran | null> {
    if (commands.length === 0) return { fewest: 0, most: 0 };
    const sessions = new Set(commands.flat().map((e) => e.session));
    const observed = commands.some((c) => c.some((e) => e.kind === 'opaque')) ? null : await this.observe(sessions);
    if (observed === null) {
      // Where these sessions are now is unknown: until a reply says, they tell nothing.
      for (const id of sessions) this.acked.delete(id);
      return null;
    }
    const ran = ranOf(commands, this.acked, observed);
    for (const [id, p] of observed) this.acked.set(id, p);
    return ran;
  }

  /** Each session's (step, pending) now (the server answers after the commands queued on it); null if one cannot be read. */
  private async observe(sessions: Set<string>): Promise<Map<string, SessionPoint> | null> {
    const out = new Map<string, SessionPoint>();
    for (const id of sessions) {
      for (let attempt = 0; !out.has(id); attempt++) {
        try {
          const s = await this.options.readSession!(id);
          out.set(id, { step: s.step, pending: s.pending });
        } catch (e) {
          if (!(e instanceof SpikeserveClientError && PASSING_READ_REFUSALS.has(e.code)) || attempt + 1 >= MAX_READ_ATTEMPTS) return null;
          await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
        }
      }
    }
    return out;
  }

  /**
   * Sends any message and resolves with its reply's result; the typed
   * methods below use it. While the socket is being opened again, the
   * request waits and is sent, in order, on the new socket.
   */
  request<T>(message: Message): Promise<T> {
    return this.queue<T>((resolve, reject) => {
      const p: Pending = {
        request: message.type,
        text: JSON.stringify(message),
        effects: effectsOf(message),
        sent: false,
        resolve: (v: never) => {
          this.acknowledged(p, v);
          resolve(v);
        },
        reject,
      };
      return p;
    });
  }

  /** A reply came: where it leaves the sessions it names. */
  private acknowledged(p: Pending, result: unknown): void {
    if (p.request === 'step_batch') {
      (result as BatchStepResult).results.forEach((o, i) => {
        if (o.ok) this.acked.set(p.effects[i].session, { step: o.result.step, pending: o.result.pending });
      });
      return;
    }
    const r = result as { step?: unknown; pending?: unknown } | null;
    if (p.effects.length === 1 && r !== null && typeof r.step === 'number' && typeof r.pending === 'boolean') this.acked.set(p.effects[0].session, { step: r.step, pending: r.pending });
  }

  step(session: string, body: StepBody = {}): Promise<StepResult> {
    return this.request({ type: 'step', session, ...body });
  }

  /** Steps many sessions in one message: per item, in order, {ok: true, result} or {ok: false, error}. */
  stepBatch(items: BatchStepItem[]): Promise<BatchStepResult> {
    return this.request({ type: 'step_batch', items });
  }

  reward(session: string, reward: number | number[]): Promise<RewardResult> {
    return this.request({ type: 'reward', session, reward });
  }

  reset(session: string, body: ResetBody = {}): Promise<ResetResult> {
    return this.request({ type: 'reset', session, ...body });
  }

  weights(session: string): Promise<AllWeights>;
  weights(session: string, connection: string): Promise<ConnectionWeights>;
  weights(session: string, connection?: string): Promise<AllWeights | ConnectionWeights> {
    return this.request(connection === undefined ? { type: 'weights', session } : { type: 'weights', session, connection });
  }

  setWeights(session: string, connection: string, weights: number[][]): Promise<ConnectionWeights> {
    return this.request({ type: 'set_weights', session, connection, weights });
  }

  snapshot(session: string): Promise<Snapshot> {
    return this.request({ type: 'snapshot', session });
  }

  protected override onMessage(data: Buffer, isBinary: boolean): void {
    if (isBinary) return this.protocolError('a binary frame came on the multiplexed socket, which sends JSON only');
    const msg = JSON.parse(data.toString()) as MuxReplyMessage | MuxErrorMessage | { type: string };
    if (msg.type !== 'reply' && msg.type !== 'error') return; // a message type newer than this client: ignored, as the protocol allows
    const wrong = settle(this.pending, msg as MuxReplyMessage | MuxErrorMessage);
    if (wrong !== null) this.protocolError(wrong);
  }
}
