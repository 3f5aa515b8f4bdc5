/** Mailbox cases shared by the parser, SMTP, HTTP and Postfix-table tests. */

export const OURS = '501 5.1.3 Bad recipient address syntax';
/** smtp-server's own refusal, for what it cannot even split into local part and domain. */
export const THEIRS = '501 Error: Bad recipient address syntax';

// IDN decision: a U-label domain is taken and stored as its A-label (punycode); see domain/mailbox.ts.
export const IDN = '例え.jp';
export const IDN_ASCII = 'xn--r8jz45g.jp';

/** Valid mailboxes and the canonical address stored for each. */
export const VALID: [string, string][] = [
  ['user@example.lg.jp', 'user@example.lg.jp'],
  ['first.last+tag@example.lg.jp', 'first.last+tag@example.lg.jp'],
  ["o'brien_{x}~y@example.lg.jp", "o'brien_{x}~y@example.lg.jp"],
  ['User@EXAMPLE.LG.JP', 'User@example.lg.jp'],
  ['"plain"@example.lg.jp', 'plain@example.lg.jp'],
  ['"a,b"@example.lg.jp', '"a,b"@example.lg.jp'],
  ['"x(y)z"@example.lg.jp', '"x(y)z"@example.lg.jp'],
  ['"a\\"b"@example.lg.jp', '"a\\"b"@example.lg.jp'],
  ['"a\\b"@example.lg.jp', 'ab@example.lg.jp'],
  [`${'a'.repeat(64)}@example.lg.jp`, `${'a'.repeat(64)}@example.lg.jp`],
  [`user@${IDN}`, `user@${IDN_ASCII}`],
  [`user@${IDN_ASCII.toUpperCase()}`, `user@${IDN_ASCII}`],
];

const LONG_DOMAIN = `${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}.jp`;

/** Invalid mailboxes; the SMTP reply is ours unless smtp-server cannot split the command at all. */
export const INVALID: [string, string][] = [
  ['root,postmaster,u0,u1@example.lg.jp', OURS],
  ['a;b@example.lg.jp', OURS],
  ['evil(x)@example.lg.jp', OURS],
  ['postmaster(@example.lg.jp', OURS],
  ['a:b@example.lg.jp', OURS],
  ['a[b]@example.lg.jp', OURS],
  ['a\\b@example.lg.jp', OURS],
  ['a%evil.example@example.lg.jp', OURS],
  ['evil.example!a@example.lg.jp', OURS],
  ['"a%b"@example.lg.jp', OURS],
  ['"unterminated@example.lg.jp', OURS],
  ['a..b@example.lg.jp', OURS],
  ['.a@example.lg.jp', OURS],
  ['a.@example.lg.jp', OURS],
  ['root', THEIRS],
  ['postmaster', OURS],
  ['user@example.lg.jp.', OURS],
  ['user@localhost', OURS],
  ['user@-example.lg.jp', OURS],
  ['user@exa_mple.lg.jp', OURS],
  ['user@[192.0.2.1]', OURS],
  ['ユーザー@example.lg.jp', OURS],
  [`${'a'.repeat(65)}@example.lg.jp`, OURS],
  [`${'a'.repeat(64)}@${LONG_DOMAIN}`, OURS],
  ['user@', THEIRS],
  ['@example.lg.jp', THEIRS],
  ['"a@b"@example.lg.jp', THEIRS],
  ['a b@example.lg.jp', THEIRS],
  ['a\x01b@example.lg.jp', THEIRS],
  ['a\x7fb@example.lg.jp', THEIRS],
];
