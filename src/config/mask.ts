/**
 * Masking of secrets inside configuration strings, for `mukaika config print` and anything else that shows
 * configuration: URL passwords and the values of sensitive query parameters become `***`.
 */

const MASK = '***';

/** Query parameter names whose values are secrets (compared lower-case, after percent-decoding). */
const SECRET_PARAMS = new Set([
  'password', 'pass', 'passwd', 'pwd', 'secret', 'token', 'key', 'sslpassword', 'sslkey', 'apikey', 'api_key',
  'access_token', 'auth', 'authorization', 'credentials',
]);

function secretParam(rawName: string): boolean {
  let name = rawName;
  try {
    name = decodeURIComponent(rawName.replace(/\+/g, ' '));
  } catch {
    // a malformed escape: judge the raw name
  }
  name = name.toLowerCase();
  return SECRET_PARAMS.has(name) || /(password|secret|token)$/.test(name);
}

/** `?a=1&password=x` with each secret value masked; every other byte of the query kept as it was. */
function maskQuery(query: string): string {
  return query.replace(/([?&;])([^=&;#]*)=([^&;#]*)/g, (all, sep: string, name: string) => (secretParam(name) ? `${sep}${name}=${MASK}` : all));
}

/**
 * `scheme://user:pass@host…` masked without parsing: everything between the first `:` of the authority and
 * the LAST `@` of the string, because an unencoded `@` (also `/`, `?`, `#`) is more likely part of the
 * password than of a path. Masking a little too much is the safe way to be wrong.
 */
function maskUserinfoLoosely(v: string): string {
  return v.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:)[^]*@/i, `$1${MASK}@`);
}

/** A configuration string with any URL password and secret query values replaced by `***`. */
export function maskSecrets(v: string): string {
  if (!/^[a-z][a-z0-9+.-]*:/i.test(v)) return v;
  let u: URL | undefined;
  try {
    u = new URL(v);
  } catch {
    u = undefined;
  }
  const authStart = v.indexOf('//') + 2;
  const authority = authStart > 1 ? /^[^/?#]*/.exec(v.slice(authStart))![0] : undefined;
  const authEnd = authStart + (authority?.length ?? 0);
  // WHATWG URL takes the last `@` before the path as the end of the user info, so `:p@ss@w0rd@h` parses
  // right. When the string does not parse, or an `@` is left after the authority while the authority holds
  // a `:` (a password with `/`, `?` or `#` in it, e.g. `redis://u:12/3@h`), fall back to the loose form.
  let out: string;
  if (!u || (authority !== undefined && authority.includes(':') && v.slice(authEnd).includes('@'))) {
    out = maskUserinfoLoosely(v);
  } else if (u.password && authority !== undefined) {
    const colon = v.indexOf(':', authStart);
    out = `${v.slice(0, colon + 1)}${MASK}${v.slice(v.lastIndexOf('@', authEnd - 1))}`;
  } else {
    out = v;
  }
  const q = out.indexOf('?');
  return q < 0 ? out : out.slice(0, q) + maskQuery(out.slice(q));
}
