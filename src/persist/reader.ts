/**
 * Reading the database back, checked: every session's row, its snapshot
 * (put together from its parts if it has them) and its log records after
 * it, then the rows still in the tail file. A checksum that fails or a gap
 * in a session's log marks that session damaged; pages SQLite cannot read
 * are skipped (salvage.ts) and reported, and the rest is still returned.
 */
import type Database from 'better-sqlite3';
import { blobChecksum, CodecError, recordChecksum, unpackEntries, type LogEntry } from './codec.js';
import type { Parts } from './parts.js';
import { PACKED_KIND, type LoadedSession, type LoadResult, type SessionRow, type SnapshotRow } from './rows.js';
import { salvageTable } from './salvage.js';
import { isCorruption } from './schema.js';
import type { StoredRow } from './tail-file.js';

const SESSION_COLS = 'key, id, owner, name, seq, created_at AS createdAt, backend';
const SNAPSHOT_COLS = 'session, upto, meta, data, crc, parts';
const RECORD_COLS = 'id, session, seq, kind, payload, crc';

/** The tail file's rows not yet in the database, and where a damaged stretch of it ended (see Writer). */
export interface TailRows {
  rows: readonly StoredRow[];
  gapFromId: number | null;
}

/** A whole read: the sessions, and the tail rows a damaged stretch of the tail file made unusable (to drop). */
export interface FullRead {
  result: LoadResult;
  dropped: Set<StoredRow>;
}

type StoredSnapshot = SnapshotRow & { crc: number; parts: number | null };

/** A blob in parts as read back: its bytes and their checksum. */
type ReadParts = { data: Buffer; crc: number };

/**
 * Takes a session's snapshot row, its blob put together from its parts if
 * it has them (`whole`, which reads them or throws what reading them threw),
 * and checks it.
 */
function acceptSnapshot(s: LoadedSession, snap: StoredSnapshot, whole: (parts: number) => ReadParts): void {
  let data = snap.data;
  let crc: number | null = null;
  if (snap.parts !== null) {
    try {
      ({ data, crc } = whole(snap.parts));
    } catch (e) {
      if (!isCorruption(e)) throw e;
      s.damage ??= `its snapshot's parts cannot be read: ${(e as Error).message}`;
    }
  }
  // Over the whole blob: a part missing or out of place fails it too.
  if ((crc ?? blobChecksum(data)) !== snap.crc) s.damage ??= 'its snapshot fails its checksum';
  s.snapshot = { session: snap.session, upto: snap.upto, meta: snap.meta, data };
}

/**
 * Takes a session's next log row, checking its checksum and that no command
 * is missing before it. A row from the tail file has no checksum of its own
 * yet (crc null): its frame's checksum was checked when the file was read.
 */
function acceptRecord(s: LoadedSession, rec: StoredRow): void {
  if (!s.snapshot) return;
  const upto = s.snapshot.upto;
  // A row never holds commands from both sides of a snapshot (a snapshot ends
  // the row being filled), so one that starts at or before it is obsolete.
  if (rec.seq <= upto) return;
  if (rec.crc !== null && recordChecksum(rec) !== rec.crc) {
    s.damage ??= `its log record ${rec.seq} fails its checksum`;
    return;
  }
  let entries: LogEntry[];
  if (rec.kind === PACKED_KIND) {
    try {
      entries = unpackEntries(rec.payload as Buffer);
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      s.damage ??= `its log records from ${rec.seq} cannot be read: ${e.message}`;
      return;
    }
  } else {
    entries = [{ kind: rec.kind, payload: rec.payload }];
  }
  const expected = upto + s.commands + 1;
  if (rec.seq !== expected) s.damage ??= `its log skips from record ${expected - 1} to ${rec.seq} (records lost)`;
  if (s.firstLiveId === null) s.firstLiveId = rec.id;
  s.records.push({ id: rec.id, session: rec.session, seq: rec.seq, entries });
  s.commands += entries.length;
}

/**
 * Takes the tail's rows. After a damaged stretch of the file, a session
 * whose next row is not the one that follows (its row was in the stretch)
 * takes none of its later rows: it is restored as of its last command
 * before the loss, never with later ones applied out of order. Those rows
 * are returned in `dropped`.
 */
function acceptTail(sessions: Map<number, LoadedSession>, tail: TailRows): { losses: { id: string; reason: string }[]; dropped: Set<StoredRow> } {
  const gap = tail.gapFromId;
  const losses: { id: string; reason: string }[] = [];
  const cut = new Set<number>();
  const dropped = new Set<StoredRow>();
  for (const r of tail.rows) {
    const s = sessions.get(r.session);
    if (!s) continue;
    if (gap !== null && r.id >= gap && s.snapshot && r.seq > s.snapshot.upto) {
      const expected = s.snapshot.upto + s.commands + 1;
      if (cut.has(r.session) || r.seq !== expected) {
        if (!cut.has(r.session)) {
          cut.add(r.session);
          losses.push({ id: s.row.id, reason: `its commands from ${expected} on were in a damaged stretch of the tail file: restored as of command ${expected - 1}, its later ones (from ${r.seq}) not applied` });
        }
        dropped.add(r);
        continue;
      }
    }
    acceptRecord(s, r);
  }
  return { losses, dropped };
}

export class Reader {
  constructor(
    private readonly db: Database.Database,
    private readonly parts: Parts,
  ) {}

  /**
   * Reads every session back: its row, its snapshot and its records after the
   * snapshot (the tail's rows last: they are newer), each checked (checksums,
   * contiguous sequence numbers). A damaged session is returned with `damage`
   * set; pages SQLite cannot read are skipped and reported in `fileDamage`,
   * and the rest is still returned.
   */
  load(tail: TailRows): FullRead {
    const fileDamage: string[] = [];
    try {
      const rows = this.db.pragma('quick_check(20)', { simple: false }) as { quick_check: string }[];
      const problems = rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
      if (problems.length > 0) fileDamage.push(`integrity check: ${problems.join('; ')}`);
    } catch (e) {
      fileDamage.push(`integrity check failed: ${(e as Error).message}`);
    }

    const sessions = new Map<number, LoadedSession>();
    let maxSeq = 0;
    salvageTable(this.db, 'sessions', 'key', SESSION_COLS, fileDamage, (r) => {
      const row = r as unknown as SessionRow;
      sessions.set(row.key, { row, snapshot: null, records: [], commands: 0, damage: null, firstLiveId: null });
      if (row.seq > maxSeq) maxSeq = row.seq;
    });
    salvageTable(this.db, 'snapshots', 'session', SNAPSHOT_COLS, fileDamage, (r) => {
      const s = sessions.get(r.session as number);
      if (s) acceptSnapshot(s, r as unknown as StoredSnapshot, (id) => {
        const data = this.parts.read(id);
        return { data, crc: blobChecksum(data) };
      });
    });
    for (const s of sessions.values()) if (!s.snapshot) s.damage ??= 'its snapshot is missing';
    salvageTable(this.db, 'log', 'id', RECORD_COLS, fileDamage, (r) => {
      const s = sessions.get(r.session as number);
      if (s) acceptRecord(s, r as unknown as StoredRow);
    });
    const { losses, dropped } = acceptTail(sessions, tail);
    return { result: { sessions: [...sessions.values()].sort((a, b) => a.row.seq - b.row.seq), fileDamage, maxSeq, tailLosses: losses }, dropped };
  }

  /**
   * One session read back (after a failed commit, or when it is loaded on
   * demand); null if it is not in the database. `fromId`: no record of the
   * session before this log id is needed (its first live one), so the scan
   * starts there.
   */
  loadOne(key: number, fromId: number, tailRows: () => readonly StoredRow[]): LoadedSession | null {
    const steps = this.loadOnePausing(key, fromId, tailRows);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  has(key: number): boolean {
    return this.db.prepare('SELECT 1 FROM sessions WHERE key = ?').get(key) !== undefined;
  }

  /**
   * As loadOne, its snapshot's parts read one at a time, pausing (yield)
   * after each; its log records are read after the last pause, with the
   * tail file's rows as they are then (`tailRows`).
   */
  *loadOnePausing(key: number, fromId: number, tailRows: () => readonly StoredRow[]): Generator<void, LoadedSession | null> {
    const row = this.db.prepare(`SELECT ${SESSION_COLS} FROM sessions WHERE key = ?`).get(key) as SessionRow | undefined;
    if (!row) return null;
    const s: LoadedSession = { row, snapshot: null, records: [], commands: 0, damage: null, firstLiveId: null };
    const snap = this.db.prepare(`SELECT ${SNAPSHOT_COLS} FROM snapshots WHERE session = ?`).get(key) as StoredSnapshot | undefined;
    if (snap) {
      let read: ReadParts | null = null;
      let failure: unknown = null;
      if (snap.parts !== null) {
        try {
          read = yield* this.parts.readPausing(snap.parts);
        } catch (e) {
          failure = e;
        }
      }
      acceptSnapshot(s, snap, () => {
        if (read === null) throw failure;
        return read;
      });
    } else {
      s.damage = 'its snapshot is missing';
    }
    // No index on the log's session column (see writer.ts): the rows from fromId on are scanned.
    for (const r of this.db.prepare(`SELECT ${RECORD_COLS} FROM log WHERE id >= ? AND session = ? ORDER BY id`).iterate(fromId, key)) acceptRecord(s, r as StoredRow);
    for (const r of tailRows()) if (r.session === key && r.id >= fromId) acceptRecord(s, r);
    return s;
  }
}
