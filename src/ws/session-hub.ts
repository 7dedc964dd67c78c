/**
 * The sockets of one session: at most one controller, any number of
 * observers (up to WS_MAX_OBSERVERS). It listens to the session's steps only
 * while some socket subscribes to a step stream (spikes, potentials,
 * weights), and to its rewards only while some socket subscribes to rewards,
 * so an unwatched session steps at full speed; it builds each event once for
 * every socket that wants the same frame. A socket whose send buffer is full gets nothing built for it:
 * the event is dropped and counted, which is what keeps a slow observer from
 * costing the controller more than a check per step.
 */
import type { WsRole } from '../api/ws.js';
import { SpikeserveError } from '../errors.js';
import type { CloseReason, Session } from '../sessions/manager.js';
import type { RewardUpdate } from '../sessions/session.js';
import type { StepView } from '../sessions/views.js';
import type { WsConnection } from './connection.js';
import { buildEvent, buildRewardEvent } from './subscriptions.js';

export class SessionHub {
  readonly session: Session;
  private controller: WsConnection | null = null;
  private readonly members = new Set<WsConnection>();
  private readonly subscribers = new Set<WsConnection>();
  private offStep: (() => void) | null = null;
  private offReward: (() => void) | null = null;
  private readonly offClosed: () => void;
  /** A session with sockets open is in use: it does not hibernate. */
  private readonly release: () => void;
  private readonly maxObservers: number;
  private readonly onEmpty: (hub: SessionHub) => void;
  /** One step's frames by subscription key, reused across sockets. */
  private readonly frames = new Map<string, string | Buffer>();

  constructor(session: Session, maxObservers: number, onEmpty: (hub: SessionHub) => void) {
    this.session = session;
    this.maxObservers = maxObservers;
    this.onEmpty = onEmpty;
    this.offClosed = session.on('closed', (reason) => this.sessionClosed(reason));
    this.release = session.hold();
  }

  get size(): number {
    return this.members.size;
  }

  get observerCount(): number {
    return this.members.size - (this.controller ? 1 : 0);
  }

  connections(): WsConnection[] {
    return [...this.members];
  }

  /** Throws the refusal when the role is not available. */
  checkRole(role: WsRole): void {
    // A controller that is closing sends nothing more: its successor need not wait for the TCP close.
    if (role === 'controller' && this.controller && !this.controller.isClosing) {
      throw new SpikeserveError(
        'WS_CONTROLLER_TAKEN',
        'the session already has a controller; connect with ?role=observer to watch it',
        { sessionId: this.session.id },
      );
    }
    if (role === 'observer' && this.observerCount >= this.maxObservers) {
      throw new SpikeserveError('LIMIT_EXCEEDED', `session ${this.session.id} has its limit of ${this.maxObservers} observers (WS_MAX_OBSERVERS)`, {
        limit: 'maxObservers',
        max: this.maxObservers,
      });
    }
  }

  attach(conn: WsConnection): void {
    this.checkRole(conn.role);
    if (conn.role === 'controller') this.controller = conn;
    this.members.add(conn);
  }

  detach(conn: WsConnection): void {
    if (!this.members.delete(conn)) return;
    if (this.controller === conn) this.controller = null;
    this.subscriptionChanged(conn);
    if (this.members.size === 0) {
      this.offClosed();
      this.release();
      this.onEmpty(this);
    }
  }

  /** Call after a socket's subscriptions changed. */
  subscriptionChanged(conn: WsConnection): void {
    if (conn.subscriptions.size > 0 && this.members.has(conn)) this.subscribers.add(conn);
    else this.subscribers.delete(conn);
    let steps = false;
    let rewards = false;
    for (const c of this.subscribers) {
      for (const stream of c.subscriptions.keys()) {
        if (stream === 'rewards') rewards = true;
        else steps = true;
      }
    }
    if (steps && !this.offStep) {
      this.offStep = this.session.on('step', (view) => this.onStep(view));
    } else if (!steps && this.offStep) {
      this.offStep();
      this.offStep = null;
    }
    if (rewards && !this.offReward) {
      this.offReward = this.session.on('reward', (u) => this.onReward(u));
    } else if (!rewards && this.offReward) {
      this.offReward();
      this.offReward = null;
    }
  }

  private onReward(u: RewardUpdate): void {
    const frames = this.frames;
    for (const conn of this.subscribers) {
      const sub = conn.subscriptions.get('rewards');
      if (sub === undefined || u.step % sub.every !== 0) continue;
      if (!conn.acceptsEvent()) continue;
      let frame = frames.get(sub.key);
      if (frame === undefined) {
        frame = buildRewardEvent(sub, u);
        frames.set(sub.key, frame);
      }
      conn.sendEvent(frame);
    }
    if (frames.size > 0) frames.clear();
  }

  private onStep(view: StepView): void {
    const frames = this.frames;
    for (const conn of this.subscribers) {
      for (const sub of conn.subscriptions.values()) {
        if (sub.stream === 'rewards' || view.step % sub.every !== 0) continue;
        if (!conn.acceptsEvent()) continue;
        let frame = frames.get(sub.key);
        if (frame === undefined) {
          frame = buildEvent(this.session, sub, view);
          frames.set(sub.key, frame);
        }
        conn.sendEvent(frame);
      }
    }
    if (frames.size > 0) frames.clear();
  }

  private sessionClosed(reason: CloseReason): void {
    for (const conn of this.members) conn.sessionClosed(reason);
  }
}
