/**
 * One multiplexed WebSocket (/v1/ws): each message names the session it is
 * for, or (step_batch) steps many sessions at once. Messages are answered in
 * the order they came, bounded as every socket is (ordered-socket.ts); the
 * commands of one session run in the order they came, as over its own
 * socket. Every session named is looked up with the owner the upgrade
 * authenticated, so another key's session is SESSION_NOT_FOUND, as over HTTP.
 * The socket holds no session open: each command opens its session as an
 * HTTP request does (a session on disk is loaded first).
 */
import { errorBody } from '../api/errors.js';
import type { BatchStepOutcome } from '../api/batch.js';
import type { MuxMessage, MuxSessionMessage } from '../api/ws-multiplex.js';
import type { MessageId } from '../api/ws.js';
import { stepAll, stepEach } from '../sessions/batch-step.js';
import type { Owner } from '../sessions/capacity.js';
import type { Session, SessionManager } from '../sessions/manager.js';
import { allWeightsOf, connectionWeightsOf } from '../sessions/views.js';
import { checkCopyRows, readBinaryStepBatch, binaryStepBatchReply } from './binary-step-batch.js';
import { parseMuxMessage } from './message-parser.js';
import { OrderedSocket, replyText, type OrderedSocketOptions, type Slot } from './ordered-socket.js';

/** The replies that hold a session's weights (or its whole state): copies, written in slices. */
const SLICED: ReadonlySet<string> = new Set(['snapshot', 'weights', 'set_weights']);

export interface MuxConnectionOptions extends OrderedSocketOptions {
  sessions: SessionManager;
  /** The key the upgrade authenticated (its id); undefined when the server has no keys, and every session may be driven. */
  owner: Owner | undefined;
  /** The most items a step_batch may carry (MAX_BATCH_ITEMS). */
  maxBatchItems: number;
}

export class MuxConnection extends OrderedSocket {
  private readonly sessions: SessionManager;
  readonly owner: Owner | undefined;
  private readonly maxBatchItems: number;

  constructor(o: MuxConnectionOptions) {
    super(o);
    this.sessions = o.sessions;
    this.owner = o.owner;
    this.maxBatchItems = o.maxBatchItems;
  }

  logFields(): Record<string, unknown> {
    return { multiplexed: true, owner: this.owner };
  }

  protected handleMessage(data: Buffer, isBinary: boolean, slot: Slot): void {
    if (isBinary) {
      this.binaryStepBatch(data, slot);
      return;
    }
    const parsed = parseMuxMessage(data, isBinary, this.limits.maxJsonDepth);
    if (!parsed.ok) {
      this.fill(slot, this.errorFor(parsed.error, parsed.id, parsed.request));
      return;
    }
    const msg = parsed.message;
    if (msg.type === 'step_batch') {
      this.stepBatch(msg, slot);
      return;
    }
    // The session as parsed from the message, looked up under the socket's owner.
    const session = msg.session;
    const type = msg.type;
    const id = msg.id;
    this.settle(
      slot,
      type,
      id,
      this.sessions.use(session, (s) => run(s, msg), this.owner),
      (r) => (SLICED.has(type) ? this.replyInSlices(type, id, r, session) : replyText(type, id, r, session)),
      session,
    );
  }

  private stepBatch(msg: Extract<MuxMessage, { type: 'step_batch' }>, slot: Slot): void {
    const id: MessageId | undefined = msg.id;
    let runs: ReturnType<typeof stepEach>;
    try {
      runs = stepEach(this.sessions, msg.items, this.owner, this.maxBatchItems);
    } catch (e) {
      this.fill(slot, this.errorFor(e, id, msg.type));
      return;
    }
    this.settle(slot, msg.type, id, runs, (settled) => {
      const results: BatchStepOutcome[] = settled.map((s, i) =>
        s.status === 'fulfilled' ? { ok: true, result: s.value } : { ok: false, error: errorBody(this.coded(s.reason, msg.type, msg.items[i].id)) },
      );
      return replyText(msg.type, id, { results });
    });
  }

  /** A binary step_batch: its rows stepped as a JSON step_batch's items would be, the reply a binary frame. */
  private binaryStepBatch(data: Buffer, slot: Slot): void {
    const parsed = readBinaryStepBatch(data, this.limits.maxJsonDepth, this.maxBatchItems);
    if (!parsed.ok) {
      this.fill(slot, this.errorFor(parsed.error, parsed.id, parsed.request ?? 'step_batch'));
      return;
    }
    const { header: h, bodies } = parsed.message;
    const check = h.copyRows === undefined ? undefined : (session: Session, i: number) => checkCopyRows(h, i, session.copies);
    this.settle(slot, h.type, h.id, stepAll(this.sessions, h.sessions, bodies, this.owner, check), (settled) => binaryStepBatchReply(h, settled, (reason, i) => this.coded(reason, h.type, h.sessions[i])));
  }
}

/** Runs one session's command; the result is the body its HTTP endpoint returns (a snapshot's and weights' as copies, for JSON written in slices). */
function run(s: Session, msg: MuxSessionMessage): Promise<unknown> {
  switch (msg.type) {
    case 'step':
      return s.step(msg);
    case 'reward':
      return s.reward(msg.reward);
    case 'reset':
      return s.reset({ weights: msg.weights });
    case 'weights':
      return s.weightMatrices(msg.connection).then((w) => (msg.connection === undefined ? allWeightsOf(w) : connectionWeightsOf(w)));
    case 'set_weights':
      return s.replaceWeights(msg.connection, msg.weights).then(connectionWeightsOf);
    case 'snapshot':
      return s.snapshotTyped();
  }
}
