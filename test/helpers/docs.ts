/** The user docs (README.md, docs/*.md) and their sections: the tests that keep the docs true share these. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

/** A document of the repository, by its path from the root (`README.md`, `docs/http-api.md`). */
export function doc(path: string): string {
  return readFileSync(path, 'utf8');
}

/**
 * From the heading "#... title" (`level` hashes) up to the next heading of
 * that level or higher; lines in fenced code blocks (shell comments) are not headings.
 */
export function section(text: string, title: string, level = 2): string {
  const lines = text.split('\n');
  const heading = /^(#{1,6}) /;
  let start = -1;
  let end = lines.length;
  let fenced = false;
  for (const [i, line] of lines.entries()) {
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced) continue;
    if (start < 0) {
      if (line === `${'#'.repeat(level)} ${title}`) start = i;
    } else if ((heading.exec(line)?.[1].length ?? Infinity) <= level) {
      end = i;
      break;
    }
  }
  assert.ok(start >= 0, `the document has a "${'#'.repeat(level)} ${title}" section`);
  return lines.slice(start, end).join('\n');
}
