/**
 * Group commit: when the pending batch (every state-changing command of
 * every session since the last commit) is written. Replies wait for their
 * batch, so a reply is only sent once its command is durable, and a
 * commit's cost is shared by every command in it. When it is written:
 *
 * - the first batch of a turn of the event loop is written as soon as the
 *   callback that started it is done (process.nextTick, after its promise
 *   jobs): a lone client in request-reply does not wait for the end of the
 *   turn, and every message of one socket read (a pipelining client) shares
 *   it;
 * - when requests arrive on several connections in the same turn, a batch
 *   started later in that turn is written when the turn ends (setImmediate),
 *   after every request of the turn has run its command: one commit for all,
 *   and their replies leave together (which, with the load client on the
 *   same cores, measured 20-30% more requests a second than a commit each).
 *
 * Finding where a turn ends takes a setImmediate, which cost a lone client
 * in request-reply 4% of its round trip (an extra pass of the event loop
 * per request). So turns are watched only while they are shared: always
 * with PERSIST_SYNC=full (a disk flush per commit), otherwise one turn in
 * SAMPLE_TURNS, and every turn from the first sampled turn that held several
 * batches until QUIET_TURNS watched turns in a row held one.
 */

/** Without shared turns, one turn with a batch in this many is watched for more batches. */
const SAMPLE_TURNS = 64;
/** Watched turns with one batch each after which turns are no longer watched. */
const QUIET_TURNS = 64;

export class GroupCommit {
  /** The end-of-turn commit of the batch opened last, if it waits for one. */
  private scheduled: NodeJS.Immediate | null = null;
  /** A batch of this turn of the loop was already written at the end of its tick: the next one waits for the turn's end. */
  private tickCommitted = false;
  /** This turn is watched: endTurn is scheduled, and batches are counted. */
  private watching = false;
  private batchesThisTurn = 0;
  /** Recent turns held several batches: later batches of a turn wait for its end. */
  private sharing = false;
  private quietTurns = 0;
  private sampleIn = 0;
  private readonly endTurn = () => {
    this.watching = false;
    this.tickCommitted = false;
    if (this.batchesThisTurn > 1) {
      this.sharing = true;
      this.quietTurns = 0;
    } else if (this.sharing && ++this.quietTurns >= QUIET_TURNS) {
      this.sharing = false;
    }
    this.batchesThisTurn = 0;
  };

  /** `fullSync`: PERSIST_SYNC=full, every turn is watched. */
  constructor(private readonly fullSync: boolean) {}

  /** Whether later batches of a turn currently wait for its end (see the top of this file). */
  get sharingTurns(): boolean {
    return this.sharing || this.fullSync;
  }

  /**
   * A batch was opened: schedules `commit` at the end of the current
   * callback or of the current turn. `commit` must write the batch only if
   * it is still pending (a flush may have written it first).
   */
  opened(commit: () => void): void {
    const full = this.fullSync;
    if (this.watching) {
      this.batchesThisTurn++;
    } else if (full || this.sharing || --this.sampleIn <= 0) {
      this.watching = true;
      this.batchesThisTurn = 1;
      this.sampleIn = SAMPLE_TURNS;
      setImmediate(this.endTurn);
    }
    if (!this.tickCommitted) {
      if (this.watching && (full || this.sharing)) this.tickCommitted = true;
      process.nextTick(commit);
    } else {
      this.scheduled = setImmediate(() => {
        this.scheduled = null;
        commit();
      });
    }
  }

  /** The pending batch is written now (a flush): its end-of-turn commit is dropped. */
  flushing(): void {
    if (this.scheduled) {
      clearImmediate(this.scheduled);
      this.scheduled = null;
    }
  }
}
