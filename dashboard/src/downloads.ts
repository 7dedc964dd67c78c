/**
 * Downloads of the session's current state. The weights are read over REST at
 * the moment of the click, not taken from the (possibly thinned, possibly
 * float32) stream, so the file holds exactly what the server holds.
 */
import type { AllWeights } from '../../src/api/state.js';

/** One row per synapse, long form (what pandas and R read without reshaping). */
export function weightsCsv(w: AllWeights): string {
  const lines = ['connection,pre,post,weight'];
  for (const [name, matrix] of Object.entries(w.weights)) {
    matrix.forEach((row, i) => row.forEach((v, j) => lines.push(`${csvField(name)},${i},${j},${v}`)));
  }
  return lines.join('\n') + '\n';
}

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function saveFile(filename: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  // The download has its own reference to the blob once started.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A filename part from a session's name or id. */
export function fileStem(name: string | null, id: string, step: number): string {
  const label = (name ?? '').replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '') || id.slice(0, 8);
  return `${label}-step${step}`;
}
