/**
 * Link neutralisation for every text that crosses into LGWAN (bodies, notice names, forwarded headers, text
 * attachments): staff must still be able to read where a link pointed, but no mail client may turn it into
 * something clickable (docs/RELIABILITY.md, "Text we write").
 *
 * Matching runs on a probe of the text: each character NFKC-normalised on its own (full-width
 * ｈｔｔｐｓ：／／ becomes https://), invisible characters (soft hyphen, zero-width space, other default-ignorable
 * code points) dropped, and the ideographic full stop 。 read as a dot next to a Latin letter or digit (IDNA
 * reads it as a dot; in Japanese prose it ends sentences). Edits are made on the original text, so Japanese prose around a link comes out exactly as it was.
 *
 * Three rules, each applied wherever it matches, in one left-to-right pass with bounded look-ahead (linear):
 *  - a scheme (`https:`, `file:`, `smb://`, `mailto:`, `javascript:`, any `name://`) is defanged;
 *  - a UNC path (`\\host\share`, also `¥¥` and full-width backslashes) loses its double backslash;
 *  - the dots of a host name are bracketed (`example[.]com`): after a scheme, after `www.`/`ftp.`, before a
 *    path, an IPv4 address, or a bare name with a known top-level domain (`例え.jp`, `example.com`).
 * Bare e-mail addresses (`taro@example.jp`) are left readable: clicking one only opens the staff member's own
 * composer. `mailto:` links are defanged like any other scheme.
 */

import { ALL_CC, BARE_SCHEMES, BARE_TLDS, DEFANGED, RENAME, SECOND_LEVEL } from './link-names.js';
import { DEFAULT_IGNORABLE, isAsciiAlnum, isLabelChar, isSchemeChar, isUrlChar, makeProbe, type Probe } from './link-probe.js';

export type LinkMode = 'neutralise' | 'strip-scheme' | 'remove';

interface Edit {
  /** Original-text range replaced. */
  from: number;
  to: number;
  by: string;
  /** For a host edit: the replacement for a shorter range [from, to'), when a scheme starts inside it. */
  cutAt?: (to: number) => string;
}

interface HostRun {
  end: number;
  /** Probe positions of the dots between labels. */
  dots: number[];
  /** End of the host itself: a last label like `comを` ends after `com` (prose touching the link). */
  hostEnd: number;
  /** Start of the host itself: a first label like `詳細はwww` starts at `www`. */
  hostStart: number;
  tld: string;
  labels: string[];
}

class Neutraliser {
  readonly edits: Edit[] = [];
  count = 0;
  /** Probe index up to which the current link extends (hosts inside it belong to it). */
  private linkEnd = -1;
  /** Probe index where the current link's authority ends (hosts in its path need a known TLD). */
  private authorityEnd = -1;
  private readonly p: string;
  private readonly at: Int32Array;

  constructor(
    private readonly text: string,
    probe: Probe,
    private readonly mode: LinkMode,
  ) {
    this.p = probe.p;
    this.at = probe.at;
  }

  private dotAt(i: number): boolean {
    const c = this.p[i];
    return c === '.' || (c === '\u3002' && (isAsciiAlnum(this.p[i - 1]) || isAsciiAlnum(this.p[i + 1])));
  }

  /** Original index just after the source character of probe position i. */
  private origEnd(i: number): number {
    let x = i + 1;
    while (x < this.p.length && this.at[x] === this.at[i]) x++;
    return this.at[x]!;
  }

  private edit(fromProbe: number, toProbe: number, by: string): void {
    const from = this.at[fromProbe]!;
    const to = toProbe > fromProbe ? this.origEnd(toProbe - 1) : from;
    const last = this.edits[this.edits.length - 1];
    if (last && from < last.to) {
      // A scheme can start inside a host edit only after 。 (abc。news:…): the host edit is cut short there.
      if (!last.cutAt || from < last.from) throw new Error('overlapping link edits');
      last.by = last.cutAt(from);
      last.to = from;
    }
    this.edits.push({ from, to, by });
  }

  /** Labels and dots from k (bounded by the text: each character is read once per run). */
  private hostRun(k: number): HostRun {
    const p = this.p;
    let j = k;
    const dots: number[] = [];
    const starts = [k];
    for (;;) {
      while (isLabelChar(p[j])) j++;
      if (j > starts[starts.length - 1]! && this.dotAt(j) && isLabelChar(p[j + 1])) {
        dots.push(j);
        j++;
        starts.push(j);
        continue;
      }
      break;
    }
    const lastStart = starts[starts.length - 1]!;
    let tldEnd = lastStart;
    while (tldEnd < j && isLabelChar(p[tldEnd]) && p.charCodeAt(tldEnd) < 0x80) tldEnd++;
    const hostEnd = tldEnd > lastStart && tldEnd < j ? tldEnd : j;
    // The first label's Latin tail (詳細はwww → www) when prose in another script touches it.
    let hostStart = k;
    if (dots.length > 0 && p.charCodeAt(dots[0]! - 1) < 0x80) {
      let s = dots[0]!;
      while (s > k && p.charCodeAt(s - 1) < 0x80) s--;
      if (s > k) hostStart = s;
    }
    const labels: string[] = [];
    for (let x = 0; x < starts.length; x++) {
      const s = x === 0 ? hostStart : starts[x]!;
      labels.push(p.slice(s, x + 1 < starts.length ? dots[x]! : hostEnd).toLowerCase());
    }
    return { end: j, dots, hostEnd, hostStart, tld: labels[labels.length - 1] ?? '', labels };
  }

  /** The end of a link's path: URL characters, minus trailing sentence punctuation and unbalanced brackets. */
  private pathEnd(from: number): number {
    const p = this.p;
    let end = from;
    let open = 0;
    let close = 0;
    while (end < p.length && isUrlChar(p[end])) {
      if (p[end] === '(') open++;
      else if (p[end] === ')') close++;
      end++;
    }
    let hasSquare = false;
    for (let x = from; x < end && !hasSquare; x++) if (p[x] === '[') hasSquare = true;
    while (end > from) {
      const last = p[end - 1]!;
      if ('.,;:!?\'"*'.includes(last)) end--;
      else if (last === ')' && open < close) {
        end--;
        close--;
      } else if (last === ']' && !hasSquare) end--;
      else break;
    }
    return end;
  }

  private bracketDots(run: HostRun, from: number, to: number): void {
    if (this.mode === 'strip-scheme' || run.dots.length === 0) return;
    const dotOrig = new Set(run.dots.map((d) => this.at[d]!));
    const a = this.at[from]!;
    const build = (b: number): string => {
      const parts: string[] = [];
      let last = a;
      for (let i = a; i < b; ) {
        const code = this.text.charCodeAt(i);
        const low = this.text.charCodeAt(i + 1);
        const len = code >= 0xd800 && code <= 0xdbff && low >= 0xdc00 && low <= 0xdfff ? 2 : 1;
        const dot = dotOrig.has(i);
        if (dot || (code >= 0x80 && DEFAULT_IGNORABLE.test(this.text.slice(i, i + len)))) {
          parts.push(this.text.slice(last, i));
          if (dot) parts.push(`[${this.text.slice(i, i + len)}]`);
          last = i + len;
        }
        i += len;
      }
      parts.push(this.text.slice(last, b));
      return parts.join('');
    };
    this.edit(from, to, build(this.origEnd(to - 1)));
    const e = this.edits[this.edits.length - 1];
    if (e && e.from === a) e.cutAt = build;
  }

  /** A link starting at `start`: counted, removed whole in remove mode; returns where scanning resumes. */
  private startLink(start: number, authorityEnd: number): number {
    if (start < this.linkEnd) {
      // a link inside a link (https://a.example/?u=https://b.example/): defanged, not counted, same extent
      this.authorityEnd = authorityEnd;
      return -1;
    }
    const end = Math.max(authorityEnd, this.pathEnd(authorityEnd));
    this.count++;
    if (this.mode === 'remove') {
      this.edit(start, end, '');
      return end;
    }
    this.linkEnd = end;
    this.authorityEnd = authorityEnd;
    return -1;
  }

  /** `scheme:` at k; returns the next probe index to scan, or -1 when k starts no scheme link. */
  private scheme(k: number): number {
    const p = this.p;
    let e = k;
    // The whole token is read: tokens never overlap (one starts only after a non-scheme character), so this
    // is linear however long a name an attacker writes. 。 counts as the dot it looks like.
    let lastDot = -1;
    while (isSchemeChar(p[e]) || p[e] === '\u3002') {
      if (p[e] === '.' || p[e] === '\u3002') lastDot = e;
      e++;
    }
    if (p[e] !== ':') return -1;
    const r = /[A-Za-z]/.test(p[k]!) ? this.schemeAt(k, e) : -1;
    if (r >= 0 || lastDot < k || lastDot + 1 >= e || !/[A-Za-z]/.test(p[lastDot + 1]!)) return r;
    // `ftp.smb:…`: a client may take `smb:` on its own, so the last segment is tried as a scheme too; the dots
    // before it are bracketed in an edit of their own, which ends where the scheme's begins.
    const edits = this.edits.length;
    if (this.mode !== 'strip-scheme') {
      const from = this.at[k]!;
      const to = this.at[lastDot + 1]!;
      this.edits.push({ from, to, by: this.text.slice(from, to).replace(/[.\u3002\uff0e\uff61]/g, '[$&]') });
    }
    const seg = this.schemeAt(lastDot + 1, e);
    if (seg < 0) this.edits.length = edits;
    return seg;
  }

  private schemeAt(k: number, e: number): number {
    const p = this.p;
    const name = p.slice(k, e).toLowerCase();
    if (DEFANGED.has(name)) return -1;
    let m = e + 1;
    while (m < p.length && (p[m] === '/' || p[m] === '\\')) m++;
    const slashes = m - e - 1;
    const next = p[m];
    // Prose in another script right after a colon (FILE:見積書) is not a link; after slashes it is a host (IDN).
    const known = BARE_SCHEMES.has(name) || name.startsWith('ms-');
    const more = isUrlChar(next) || next === '\u3002' || (slashes > 0 && isLabelChar(next));
    if (known ? !(more || slashes > 0) : !(more && slashes >= 2)) return -1;
    if (name === 'data' && slashes === 0 && !/^[A-Za-z-]+\/|^,/.test(p.slice(m, m + 40))) return -1;
    // The authority: a host run (IDN allowed) up to its real end, then an optional :port.
    let authEnd = m;
    let userEnd = -1;
    if (slashes > 0 || name === 'mailto') {
      // userinfo ends at the last @ of the authority; looked for over a bounded stretch of ASCII only
      for (let x = m; name !== 'mailto' && x < m + 256 && isUrlChar(p[x]) && !'/?#\\'.includes(p[x]!); x++) if (p[x] === '@') userEnd = x + 1;
      const hostFrom = userEnd > 0 ? userEnd : m;
      const run = this.hostRun(hostFrom);
      authEnd = run.end > hostFrom ? run.hostEnd : hostFrom;
      if (p[authEnd] === ':') {
        let y = authEnd + 1;
        while (y < p.length && /[0-9]/.test(p[y]!)) y++;
        authEnd = y;
      }
    }
    const resume = this.startLink(k, authEnd);
    if (resume >= 0) return resume;
    const slash = slashes > 0 ? p.slice(e + 1, m).replace(/\\/g, '/') : '';
    const defanged =
      this.mode === 'strip-scheme' ? '' : RENAME[name] ? RENAME[name] + ':' + (slashes > 0 ? '//' : '') : `${p.slice(k, e).replace(/[.\u3002]/g, '[$&]')}[:${slash}]`;
    this.edit(k, m, defanged);
    // userinfo is a phishing trick (https://bank.example@evil.example/): only the real host is shown
    if (userEnd > 0) {
      this.edit(m, userEnd, '');
      return userEnd;
    }
    return m;
  }

  /** `\\host\share` at k (two backslashes not preceded by a third, then a host character). */
  private unc(k: number): number {
    const p = this.p;
    const after = p[k + 2];
    if (!(p[k] === '\\' && p[k + 1] === '\\' && p[k - 1] !== '\\' && after !== undefined && after !== '\\' && !/\s/.test(after))) return -1;
    const run = this.hostRun(k + 2);
    const resume = this.startLink(k, Math.max(k + 2, run.hostEnd));
    if (resume >= 0) return resume;
    this.edit(k, k + 2, this.mode === 'strip-scheme' ? '' : '[\\][\\]');
    return k + 2;
  }

  /** A host run at k; returns where scanning resumes. */
  private host(k: number): number {
    const p = this.p;
    const run = this.hostRun(k);
    // Scanning always goes on inside the run (a scheme may follow prose in another script: 詳細はhttps:, or
    // sit in a last label that is not a host). Inner positions never start another run, so this stays linear,
    // and an edit made here ends before any scheme that could start inside the run.
    const next = k + 1;
    if (run.dots.length === 0) return next;
    const inLink = k < this.linkEnd;
    const before = p[k - 1];
    // the local part of an address (a domain follows the @), or userinfo (removed with its scheme)
    const at = p[run.end] === '@' ? run.end : p[run.hostEnd] === '@' ? run.hostEnd : -1;
    if (at >= 0 && this.hostRun(at + 1).dots.length > 0) return next;
    if (before === '@' && !inLink) return next;
    const ipv4 = run.labels.length === 4 && run.labels.every((l) => /^\d{1,3}$/.test(l));
    const www = run.labels.length > 1 && (run.labels[0] === 'www' || run.labels[0] === 'ftp');
    const tldAlpha = /^[a-z]{2,24}$|^xn--[a-z0-9-]{1,59}$/.test(run.tld);
    let after = run.hostEnd;
    if (p[after] === ':' && /[0-9]/.test(p[after + 1] ?? '')) {
      after++;
      while (/[0-9]/.test(p[after] ?? '')) after++;
    }
    const pathFollows = p[after] === '/' && (tldAlpha || ipv4);
    if (inLink) {
      // the same rules as outside a link (a host/ in a path is a host), so a second pass finds nothing new
      if (k < this.authorityEnd || www || pathFollows || BARE_TLDS.has(run.tld) || run.tld.startsWith('xn--') || ipv4) {
        this.bracketDots(run, run.hostStart, run.hostEnd);
      }
      return next;
    }
    if (www || pathFollows) {
      const resume = this.startLink(run.hostStart, after);
      if (resume >= 0) return resume;
      this.bracketDots(run, run.hostStart, run.hostEnd);
      return next;
    }
    const second = run.labels[run.labels.length - 2] ?? '';
    const bareTld = BARE_TLDS.has(run.tld) || run.tld.startsWith('xn--') || (ALL_CC.has(run.tld) && SECOND_LEVEL.has(second));
    if (ipv4 || (bareTld && !/^\d+$/.test(run.labels[run.labels.length - 2] ?? ''))) {
      this.count++;
      this.bracketDots(run, run.hostStart, run.hostEnd);
    }
    return next;
  }

  run(): void {
    const p = this.p;
    let k = 0;
    while (k < p.length) {
      const c = p[k]!;
      const prev = p[k - 1];
      let next = -1;
      if (c === '\\') next = this.unc(k);
      // a token starts after a non-scheme character, or after a dot that itself follows one (あ．javascript:)
      else if (isAsciiAlnum(c) && (!isSchemeChar(prev) || (prev === '.' && !isSchemeChar(p[k - 2])))) next = this.scheme(k);
      if (next < 0 && isLabelChar(c) && !isLabelChar(prev) && !(prev !== undefined && this.dotAt(k - 1))) next = this.host(k);
      k = next > k ? next : k + 1;
    }
  }
}

/**
 * Neutralise every link form in `text` (see the module comment): hxxps://example[.]com/path (neutralise),
 * example.com/path (strip-scheme: the scheme only is dropped, hosts stay as they are), or the link removed
 * (remove). `count` is the number of links found.
 */
export function neutraliseLinks(text: string, mode: LinkMode): { text: string; count: number } {
  if (text.length === 0) return { text, count: 0 };
  const n = new Neutraliser(text, makeProbe(text), mode);
  n.run();
  if (n.edits.length === 0) return { text, count: n.count };
  const out: string[] = [];
  let last = 0;
  for (const e of n.edits) {
    out.push(text.slice(last, e.from), e.by);
    last = e.to;
  }
  out.push(text.slice(last));
  const joined = out.join('');
  return { text: mode === 'remove' ? joined.replace(/[ \t]{2,}/g, ' ') : joined, count: n.count };
}
