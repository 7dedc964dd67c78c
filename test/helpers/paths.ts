/**
 * Ways of writing `path` that the router may decode or normalise to it, or
 * that merely look like it: each segment with a percent-encoded first letter
 * (lower- and upper-case hex), double-encoded, in other cases, with dot
 * segments, doubled slashes, `;`, an encoded slash and a trailing slash.
 */
export function variants(path: string): string[] {
  const segs = path.split('/').slice(1);
  const hex = (c: string) => c.charCodeAt(0).toString(16);
  const out = new Set<string>();
  segs.forEach((seg, i) => {
    const with_ = (s: string) => '/' + segs.map((x, j) => (j === i ? s : x)).join('/');
    out.add(with_(`%${hex(seg[0])}${seg.slice(1)}`));
    out.add(with_(`%${hex(seg[0]).toUpperCase()}${seg.slice(1)}`));
    out.add(with_(`%25${hex(seg[0])}${seg.slice(1)}`));
    out.add(with_(seg.toUpperCase()));
    out.add(with_(seg[0].toUpperCase() + seg.slice(1)));
    out.add(with_(`${seg};x`));
    out.add(with_(`./${seg}`));
    out.add(with_(`x/../${seg}`));
    out.add(with_(`%2e/${seg}`));
    out.add(with_(`x/%2e%2e/${seg}`));
    out.add(with_(`/${seg}`));
  });
  out.add('/' + path);
  out.add(path + '/');
  out.add(path + '//');
  out.add(path + ';x');
  out.add(path.replace(/\//g, '%2f').replace(/^%2f/, '/'));
  out.add(path.replace(/\//g, '%2F').replace(/^%2F/, '/'));
  out.delete(path);
  return [...out];
}
