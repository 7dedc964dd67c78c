/**
 * What a node must remember across restarts besides its sessions: its id
 * (the directory names sessions' owners by it, so a node restarted on its
 * DATA_DIR must be the same node) and the ownership epoch of each session it
 * received from another node (sessions created here have epoch 1 and are not
 * written). Kept in DATA_DIR/cluster.json, replaced whole and synced on each
 * change (changes are rare: a session arriving, moving on or being deleted).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

interface Saved {
  nodeId: string;
  epochs: Record<string, number>;
}

export class NodeIdentity {
  private constructor(
    readonly nodeId: string,
    private readonly epochs: Map<string, number>,
    /** The file, or null without DATA_DIR (memory only). */
    private readonly file: string | null,
  ) {}

  /**
   * The identity saved in `dataDir`, or a new one. A configured id wins over
   * the saved one (and is saved), so an operator can name nodes.
   */
  static load(dataDir: string, configuredId: string): NodeIdentity {
    const file = dataDir === '' ? null : join(dataDir, 'cluster.json');
    let saved: Saved | null = null;
    if (file !== null) {
      try {
        saved = JSON.parse(readFileSync(file, 'utf8')) as Saved;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${file} cannot be read (${(e as Error).message}); move it aside and the node starts with a new id`);
      }
    }
    const nodeId = configuredId !== '' ? configuredId : (saved?.nodeId ?? `node-${randomBytes(4).toString('hex')}`);
    const identity = new NodeIdentity(nodeId, new Map(Object.entries(saved?.epochs ?? {})), file);
    if (saved?.nodeId !== nodeId) identity.save();
    return identity;
  }

  epochOf(sessionId: string): number {
    return this.epochs.get(sessionId) ?? 1;
  }

  setEpoch(sessionId: string, epoch: number): void {
    this.epochs.set(sessionId, epoch);
    this.save();
  }

  forget(sessionId: string): void {
    if (this.epochs.delete(sessionId)) this.save();
  }

  private save(): void {
    if (this.file === null) return;
    const data: Saved = { nodeId: this.nodeId, epochs: Object.fromEntries(this.epochs) };
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify(data));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }
}
