/**
 * The user docs hold together: every relative link in README.md and
 * docs/*.md points to a file of the repository and, when it names an
 * anchor, to a heading of that file; and the API's own description (the
 * /docs page, openapi.yaml) sends a reader to the model page that exists.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { test } from 'node:test';
import { API_DESCRIPTION } from '../src/app.js';
import { doc } from './helpers/docs.js';

const DOCS = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];

/** The text outside fenced code blocks, where headings are headings. */
function unfenced(text: string): string {
  return text.replace(/^```[\s\S]*?^```/gm, '');
}

/** The text outside fenced code blocks and inline code, where links are links. */
function prose(text: string): string {
  return unfenced(text).replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchors(path: string): Set<string> {
  const slugs = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of unfenced(doc(path)).matchAll(/^#{1,6} (.+)$/gm)) {
    const s = slug(m[1]);
    const n = seen.get(s) ?? 0;
    slugs.add(n === 0 ? s : `${s}-${n}`);
    seen.set(s, n + 1);
  }
  return slugs;
}

test('the docs are README.md and the docs/ files it lists', () => {
  const readme = doc('README.md');
  for (const path of DOCS.slice(1)) assert.ok(readme.includes(`](${path})`), `README.md links ${path}`);
});

for (const path of DOCS) {
  test(`${path}: every relative link resolves`, () => {
    const links = [...prose(doc(path)).matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((l) => !/^[a-z]+:/.test(l));
    for (const link of links) {
      const [file, anchor] = link.split('#') as [string, string | undefined];
      const target = file === '' ? path : normalize(join(dirname(path), file));
      assert.ok(existsSync(target), `${path}: ${link} points to ${target}, which does not exist`);
      if (anchor !== undefined) {
        assert.ok(statSync(target).isFile() && target.endsWith('.md'), `${path}: ${link} has an anchor into a file that is not markdown`);
        assert.ok(anchors(target).has(anchor), `${path}: ${link}: ${target} has no heading for #${anchor}`);
      }
    }
  });
}

test('the API description (the /docs page) points to docs/model.md, which exists', () => {
  const named = [...API_DESCRIPTION.matchAll(/\b[\w./-]+\.md\b/g)].map((m) => m[0]);
  assert.deepEqual(named, ['docs/model.md']);
  assert.ok(existsSync(named[0]));
});
