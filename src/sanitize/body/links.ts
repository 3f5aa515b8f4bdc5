/**
 * URL neutralisation for text that crosses into LGWAN: staff must still be able to read where a
 * link pointed, but no mail client may turn it into something clickable.
 */

export type LinkMode = 'neutralise' | 'strip-scheme' | 'remove';

// Characters a URL may contain in running text (RFC 3986 plus %); anything else, including all
// non-ASCII (Japanese prose often touches URLs directly), ends it.
const U = "[A-Za-z0-9\\-._~:/?#\\[\\]@!$&'()*+,;=%]";
const HOST_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
// Lookbehinds keep matches at token starts only, which also keeps the scan linear on long runs.
const LINK = new RegExp(
  [
    `(?<![A-Za-z0-9+.-])(?:https?|s?ftp|ftps|file|wss?):\\/\\/${U}+`,
    `(?<![A-Za-z0-9+.-])mailto:${U}+`,
    `(?<![A-Za-z0-9.@/:_-])www\\.${U}+`,
    `(?<![A-Za-z0-9.@/:_%-])(?:${HOST_LABEL}\\.){1,10}[A-Za-z]{2,24}(?::\\d{1,5})?\\/${U}*`,
    `(?<![A-Za-z0-9.@/:_%-])(?:\\d{1,3}\\.){3}\\d{1,3}(?::\\d{1,5})?\\/${U}*`,
  ].join('|'),
  'gi',
);

/** Trailing punctuation belongs to the sentence, and a `)` only to the URL if it opened one. */
/**
 * Drops trailing punctuation that belongs to the sentence, not the URL. Linear: the bracket balance is
 * counted once and updated as characters are dropped (a URL of 20,000 ')' must not cost seconds).
 */
function trimUrl(url: string): string {
  let end = url.length;
  let open = 0;
  let close = 0;
  for (const ch of url) {
    if (ch === '(') open++;
    else if (ch === ')') close++;
  }
  const hasSquare = url.includes('[');
  while (end > 0) {
    const last = url[end - 1]!;
    if ('.,;:!?\'"*'.includes(last)) end--;
    else if (last === ')' && open < close) {
      end--;
      close--;
    } else if (last === ']' && !hasSquare) end--;
    else break;
  }
  return url.slice(0, end);
}

function bracketDots(host: string): string {
  return host.replace(/\./g, '[.]');
}

/** Neutralise one matched URL; returns undefined when there is nothing link-like left to change. */
function neutraliseOne(url: string, mode: LinkMode): string {
  if (mode === 'remove') return '';
  let scheme = '';
  let rest = url;
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(\/\/)?/.exec(url);
  if (m && (m[2] || m[1]!.toLowerCase() === 'mailto')) {
    scheme = m[1]!.toLowerCase();
    rest = url.slice(m[0].length);
  }
  if (scheme === 'mailto') {
    const q = rest.search(/[?#]/);
    const addr = q < 0 ? rest : rest.slice(0, q);
    const at = addr.lastIndexOf('@');
    const shown = at < 0 ? addr : addr.slice(0, at + 1) + (mode === 'neutralise' ? bracketDots(addr.slice(at + 1)) : addr.slice(at + 1));
    return mode === 'neutralise' ? 'mailto[:]' + shown : shown;
  }
  const hostEnd = rest.search(/[/?#\\]/);
  let authority = hostEnd < 0 ? rest : rest.slice(0, hostEnd);
  const path = hostEnd < 0 ? '' : rest.slice(hostEnd);
  // userinfo is a phishing trick (https://bank.example@evil.example/): show only the real host
  const at = authority.lastIndexOf('@');
  if (at >= 0) authority = authority.slice(at + 1);
  if (mode === 'strip-scheme') return authority + path;
  const defanged = scheme === '' ? '' : scheme.replace(/^http/, 'hxxp').replace(/^(s?)ftp/, '$1fxp').replace(/^ws/, 'wxs') + '://';
  return defanged + bracketDots(authority) + path;
}

/** hxxps://example[.]com/path (neutralise), example.com/path (strip-scheme), or the URL removed. */
export function neutraliseLinks(text: string, mode: LinkMode): { text: string; count: number } {
  let count = 0;
  LINK.lastIndex = 0;
  const out = text.replace(LINK, (match: string) => {
    const url = trimUrl(match);
    if (url.length === 0 || !/[./]/.test(url.replace(/^[a-z]+:\/*/i, ''))) return match;
    count++;
    return neutraliseOne(url, mode) + match.slice(url.length);
  });
  return { text: mode === 'remove' ? out.replace(/[ \t]{2,}/g, ' ') : out, count };
}
