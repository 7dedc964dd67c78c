/**
 * A session's command log, both ways: each command that changes the session
 * is recorded as it runs (encoded by api/command-codec.ts), and compacted
 * into a snapshot past its bound; read back from disk, a snapshot's state is
 * put back and the commands after it run again, exactly as they ran the
 * first time (the engine is deterministic).
 */
import { runToEnd, type Network, type TypedSnapshot } from '../engine/index.js';
import { decodeCommand, encodeReset, encodeReward, encodeStep, encodeWeights, type LoggedCommand } from '../api/command-codec.js';
import type { StepBody } from '../api/step.js';
import { encodeBlob } from '../persist/codec.js';
import type { SessionLog } from '../persist/session-log.js';
import type { SpikeStats } from './spike-stats.js';

/** The session a recorder snapshots, as it is now (between commands). */
export interface SnapshotSource {
  /** Its statistics, as the JSON text a snapshot keeps beside the network. */
  meta(): string;
  /** Its network's snapshot; the weights may be the network's own arrays, read before it next changes. */
  view(): TypedSnapshot;
  /** Runs compactPausing() as the session's next command. */
  compactLater(): void;
}

/** Records a session's commands in its log (its record in the database). */
export class CommandRecorder {
  /** A compaction in parts is queued as a command (see compact). */
  private compactionQueued = false;

  /** The log is the session's record in the database. */
  constructor(
    readonly log: SessionLog,
    private readonly source: SnapshotSource,
  ) {}

  step(body: StepBody): void {
    this.append('step', encodeStep(body), body.steps ?? 1);
  }

  reward(reward: number | number[]): void {
    this.append('reward', encodeReward(reward), 0);
  }

  reset(weights: boolean): void {
    this.append('reset', encodeReset(weights), 0);
  }

  /**
   * `weights` as given: [rows][cols], or row-major values (a binary
   * request's), `count` of them. Pausing (yield) while a snapshot that
   * records them instead is written in parts: run in slices inside the command.
   */
  *weights(connection: string, weights: unknown, count: number): Generator<void, void> {
    if (this.log.snapshotInstead(8 * count)) yield* this.snapshotPausing();
    else this.append('weights', encodeWeights(connection, weights), 0);
  }

  /** Writes a snapshot of the session as it is now (between commands) to the database, in one go. */
  snapshot(): void {
    this.log.snapshot(this.source.meta(), encodeBlob(this.source.view()));
  }

  /** As snapshot(), a large one written in parts, pausing (yield) between them; run in slices inside a command, so that nothing changes meanwhile. */
  *snapshotPausing(): Generator<void, void> {
    yield* this.log.snapshotPausing(this.source.meta(), this.source.view());
  }

  /** A compaction, pausing while it is written in parts: what compactLater runs. */
  *compactPausing(): Generator<void, void> {
    this.compactionQueued = false;
    // Another compaction may have been queued before this one ran: nothing left to fold in.
    if (!this.snapshotDue) return;
    yield* this.snapshotPausing();
  }

  /** Some change since the last snapshot is only in the log (and the log has not failed). */
  get snapshotDue(): boolean {
    return this.log.liveRecords > 0 && !this.log.failed;
  }

  /** Writes a snapshot if any change since the last one is only in the log (and the log has not failed). */
  snapshotIfLogged(): void {
    if (this.snapshotDue) this.snapshot();
  }

  /** Appends a command, and compacts the log into a snapshot past its bound. */
  private append(kind: LoggedCommand['kind'], payload: string | Buffer, steps: number): void {
    this.log.append(kind, payload, steps);
    if (this.log.wantsCompaction) this.compact();
  }

  /**
   * A snapshot now; or, if this session's are written in parts (over several
   * turns of the event loop), as the next command, so that this one ends now.
   */
  private compact(): void {
    if (!this.log.snapshotsInParts) {
      this.snapshot();
    } else if (!this.compactionQueued) {
      this.compactionQueued = true;
      this.source.compactLater();
    }
  }
}

/** What replaying acts on: the session's network and statistics, and its reset. */
export interface ReplayTarget {
  net: Network;
  stats: SpikeStats;
  reset(weights: boolean): void;
}

/** Runs logged commands again, exactly as they ran the first time (limits of the time they ran do not apply twice). Returns the steps run and the bytes read. */
export function replayCommands(target: ReplayTarget, commands: Iterable<LoggedCommand>): { steps: number; bytes: number } {
  return runToEnd(replayCommandsPausing(target, commands));
}

/** As replayCommands, pausing (yield) after every network step and every other command: a log of thousands of steps of a large network takes seconds. */
export function* replayCommandsPausing(target: ReplayTarget, commands: Iterable<LoggedCommand>): Generator<void, { steps: number; bytes: number }> {
  let steps = 0;
  let bytes = 0;
  for (const c of commands) {
    steps += yield* replayOne(target, c);
    bytes += c.payload.length;
  }
  return { steps, bytes };
}

function* replayOne(target: ReplayTarget, logged: LoggedCommand): Generator<void, number> {
  const { net, stats } = target;
  const c = decodeCommand(logged);
  switch (c.kind) {
    case 'step': {
      const plan = net.prepareRun(c.body);
      for (let t = 0; t < plan.steps; t++) {
        net.runSlice(plan, t, t + 1, () => stats.add(net));
        yield;
      }
      return plan.steps;
    }
    case 'reward':
      net.reward(c.reward);
      break;
    case 'reset':
      target.reset(c.weights);
      break;
    case 'weights': {
      // Row-major values (from a binary request) or [rows][cols].
      const w = c.weights as unknown[];
      if (Array.isArray(w) && typeof w[0] === 'number') net.setWeightsFlat(c.connection, w as number[]);
      else net.setWeights(c.connection, w);
      break;
    }
  }
  yield;
  return 0;
}
