/**
 * The names that make text a link (docs/RELIABILITY.md, "Text we write"): schemes clients open, our own
 * defanged forms, and the top-level domains that make a bare name a host. Used by links.ts.
 */

/** Schemes that mail clients or Windows open even without `//`, when something follows the colon. */
export const BARE_SCHEMES = new Set([
  'http', 'https', 'ftp', 'ftps', 'sftp', 'file', 'smb', 'cifs', 'nfs', 'afp', 'webdav', 'ldap', 'ldaps', 'ssh', 'telnet',
  'tn3270', 'rlogin', 'irc', 'ircs', 'news', 'snews', 'nntp', 'gopher', 'wais', 'prospero', 'mailto', 'javascript',
  'vbscript', 'livescript', 'data', 'mhtml', 'mk', 'its', 'res', 'shell', 'search', 'search-ms', 'callto', 'sip', 'sips',
  'xmpp', 'im', 'skype', 'outlook', 'onenote', 'notes', 'webcal', 'feed', 'magnet', 'jar', 'view-source', 'intent',
  'ws', 'wss', 'rdp', 'vnc', 'steam', 'zoommtg', 'msteams', 'hcp', 'jnlp', 'sms',
]);
/** Our own defanged forms (and common ones): already safe, left as they are. */
export const DEFANGED = new Set(['hxxp', 'hxxps', 'fxp', 'fxps', 'sfxp', 'wxs', 'wxss', 'hxxxp', 'h**p', 'h**ps']);
export const RENAME: Record<string, string> = { http: 'hxxp', https: 'hxxps', ftp: 'fxp', ftps: 'fxps', sftp: 'sfxp', ws: 'wxs', wss: 'wxss' };

/** Every two-letter country code (ISO 3166 and the IANA extras), as linkify-it lists them. */
const CC =
  'a[cdefgilmnoqrstuwxz]|b[abdefghijmnorstvwyz]|c[acdfghiklmnoruvwxyz]|d[ejkmoz]|e[cegrstu]|f[ijkmor]|g[abdefghilmnpqrstuwy]|' +
  'h[kmnrtu]|i[delmnoqrst]|j[emop]|k[eghimnprwyz]|l[abcikrstuvy]|m[acdeghklmnopqrstuvwxyz]|n[acefgilopruz]|om|p[aefghklmnrstwy]|qa|' +
  'r[eosuw]|s[abcdeghijklmnortuvxyz]|t[cdfghjklmnortvwz]|u[agksyz]|v[aceginu]|w[fs]|y[et]|z[amw]';
export const ALL_CC = new Set(CC.split('|').flatMap((g) => (g.length === 2 ? [g] : [...g.slice(2, -1)].map((c) => g[0] + c))));
/**
 * Country codes that are also common file extensions (見積書.ai, README.md, ja.mo, libx.la): a bare name ending
 * in one counts only under a second-level label (example.com.ar); with a scheme, www. or a path any name counts.
 */
const FILE_LIKE_CC = new Set(['ai', 'md', 'pl', 'ps', 'py', 'rs', 'sh', 'cc', 'so', 'mp', 'mo', 'la', 'ml', 'pm', 'do', 'bz', 'tk', 'ar', 'as']);
export const SECOND_LEVEL = new Set(['com', 'co', 'net', 'ne', 'org', 'or', 'gov', 'go', 'gob', 'edu', 'ed', 'ac', 'lg', 'gr', 'ad', 'mil', 'nic']);

/**
 * Top-level domains that make a bare name (no scheme, no www., no path) a host: the country codes but those
 * above, common generic ones, and the reserved and internal names. `.zip` and `.mov` are left out (資料.zip is
 * a file name far more often than a host); with a scheme, www. or a path any name counts.
 */
export const BARE_TLDS = new Set([
  ...[...ALL_CC].filter((t) => !FILE_LIKE_CC.has(t)),
  ...(
    'com net org edu gov mil int info biz name pro aero coop museum mobi asia jobs travel tel cat xxx web shop ' +
    'app dev page site online xyz top club store tech blog cloud link click live work news email today world ' +
    'tokyo osaka nagoya yokohama kyoto okinawa example test invalid localhost local internal lan corp home onion arpa'
  ).split(' '),
]);
