import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument, type YAMLError } from 'yaml';
import { configSchema, type Config } from './schema.js';
import { maskSecrets } from './mask.js';
import { isVeryWide, isWholeInternet } from './net-checks.js';
import { MukaikaError } from '../errors.js';
import { EVT, type Logger } from '../log.js';
import { PACKAGE_ROOT } from '../paths.js';

export const DEFAULT_CONFIG_FILE = path.join(PACKAGE_ROOT, 'config', 'default.yaml');

type Tree = Record<string, unknown>;

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge where arrays and scalars from `over` replace those of `base`. */
function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isTree(b) && isTree(v) ? merge(b, v) : v;
  }
  return out;
}

/**
 * A YAML problem by its code and position only. The parser's own message quotes the offending line or token,
 * and in a config file that is as likely as not a password or a URL with one (a bad indent under
 * `databaseUrl: postgres://u:pw@h` printed the URL); so does its console warning for an unknown tag.
 */
function yamlProblem(file: string, e: YAMLError): MukaikaError {
  const at = e.linePos?.[0];
  return new MukaikaError('CONFIG_INVALID', `cannot read ${file}: YAML ${e.code}${at ? ` at line ${at.line}, column ${at.col}` : ''} (the text is not shown: it may hold a secret)`);
}

function readYaml(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new MukaikaError('CONFIG_INVALID', `cannot read ${file}: ${(err as Error).message}`);
  }
  // Warnings (an unresolved tag) are refused like errors: a value the parser could not make sense of.
  const parsed = parseDocument(text, { logLevel: 'silent' });
  const problem = parsed.errors[0] ?? parsed.warnings[0];
  if (problem) throw yamlProblem(file, problem);
  let doc: unknown;
  try {
    doc = parsed.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new MukaikaError('CONFIG_INVALID', `cannot read ${file}: YAML aliases could not be resolved (${(err as Error).name})`);
  }
  if (doc == null) return {};
  if (!isTree(doc)) throw new MukaikaError('CONFIG_INVALID', `${file}: top level must be a mapping`);
  return doc;
}

function intFromEnv(name: string, raw: string): number {
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) throw new MukaikaError('CONFIG_INVALID', `${name}: must be a port number (0-65535), got "${raw}"`);
  return Number(raw);
}

/** The environment variables of README "Configuration" (docs/DESIGN.md §5), mapped onto config keys. */
function fromEnv(env: NodeJS.ProcessEnv): Tree {
  const o: Tree = {};
  const at = (keys: string[], value: unknown) => {
    let t = o;
    for (const k of keys.slice(0, -1)) t = (t[k] ??= {}) as Tree;
    t[keys.at(-1)!] = value;
  };
  if (env.MUKAIKA_DATA_DIR) at(['dataDir'], env.MUKAIKA_DATA_DIR);
  if (env.REDIS_URL) at(['redisUrl'], env.REDIS_URL);
  if (env.DATABASE_URL) at(['databaseUrl'], env.DATABASE_URL);
  if (env.SMTP_PORT) at(['smtp', 'port'], intFromEnv('SMTP_PORT', env.SMTP_PORT));
  if (env.HTTP_PORT) at(['http', 'port'], intFromEnv('HTTP_PORT', env.HTTP_PORT));
  if (env.WEB_PORT) at(['web', 'port'], intFromEnv('WEB_PORT', env.WEB_PORT));
  if (env.LGWAN_SMTP_URL !== undefined) at(['lgwan', 'smtpUrl'], env.LGWAN_SMTP_URL);
  if (env.ACCEPT_DOMAINS) {
    at(['smtp', 'acceptDomains'], env.ACCEPT_DOMAINS.split(',').map((d) => d.trim().toLowerCase()).filter(Boolean));
  }
  if (env.LOG_LEVEL) at(['log', 'level'], env.LOG_LEVEL);
  return o;
}

function deepFreeze<T>(o: T): T {
  if (isTree(o) || Array.isArray(o)) {
    for (const v of Object.values(o as object)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Extra overrides applied last (tests). */
  overrides?: Tree;
}

/**
 * Defaults, then the MUKAIKA_CONFIG file, then environment variables, then `overrides`; validated once and
 * frozen. A bad value throws CONFIG_INVALID naming the key and what is allowed.
 */
export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  let tree = readYaml(DEFAULT_CONFIG_FILE);
  if (env.MUKAIKA_CONFIG) tree = merge(tree, readYaml(env.MUKAIKA_CONFIG));
  tree = merge(tree, fromEnv(env));
  if (opts.overrides) tree = merge(tree, opts.overrides);
  const parsed = configSchema.safeParse(tree);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new MukaikaError('CONFIG_INVALID', `invalid configuration:\n${lines.join('\n')}`);
  }
  const cfg = parsed.data;
  cfg.dataDir = path.resolve(cfg.dataDir);
  cfg.smtp.acceptDomains = cfg.smtp.acceptDomains.map((d) => d.toLowerCase());
  checkPortClashes(cfg);
  checkRelayLoop(cfg);
  return deepFreeze(cfg);
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

/** Two listeners on one port and overlapping addresses: the second could never listen. */
function checkPortClashes(cfg: Config): void {
  const listeners = [['smtp', cfg.smtp], ['http', cfg.http], ['web', cfg.web]] as const;
  for (const [i, [a, la]] of listeners.entries()) {
    for (const [b, lb] of listeners.slice(i + 1)) {
      const overlap = la.host === lb.host || WILDCARD_HOSTS.has(la.host) || WILDCARD_HOSTS.has(lb.host);
      if (la.port !== 0 && la.port === lb.port && overlap) {
        throw new MukaikaError('CONFIG_INVALID', `invalid configuration:\n  ${b}.port: ${lb.port} is also ${a}.port; each listener needs its own port`);
      }
    }
  }
}

const isLoopback = (h: string) => h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);

/**
 * lgwan.smtpUrl naming our own SMTP listener: every sanitized mail would come back in as new Internet mail
 * (loopback peers are allowed by default), be sanitized and sent again, for ever, a notice longer each time.
 */
function checkRelayLoop(cfg: Config): void {
  if (!cfg.lgwan.smtpUrl || cfg.smtp.port === 0) return;
  const u = new URL(cfg.lgwan.smtpUrl);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const port = Number(u.port || (u.protocol === 'smtps:' ? 465 : 25));
  const listen = cfg.smtp.host.toLowerCase();
  const same = host === listen || host === cfg.hostname.toLowerCase()
    || (isLoopback(host) && (WILDCARD_HOSTS.has(listen) || isLoopback(listen)) && (host === 'localhost' || listen === 'localhost' || WILDCARD_HOSTS.has(listen)));
  if (port === cfg.smtp.port && same) {
    throw new MukaikaError('CONFIG_INVALID', `invalid configuration:\n  lgwan.smtpUrl: ${host}:${port} is this gateway's own SMTP listener (smtp.host ${cfg.smtp.host}, smtp.port ${cfg.smtp.port}); mail would loop`);
  }
}

/**
 * Settings that load but leave the gateway open wider than any site needs: each is logged loudly (MK003) at
 * start. Refused outright instead, at load: wildcard accept domains (an open relay into LGWAN).
 */
export function configWarnings(cfg: Config): string[] {
  const out: string[] = [];
  for (const n of cfg.smtp.allowedNetworks.filter(isWholeInternet)) {
    out.push(`smtp.allowedNetworks contains ${n}: any host on the Internet may connect to SMTP; list your MTAs' networks`);
  }
  // The same opening in other spellings (`0.0.0.0/1` twice, `::ffff:0:0/96`): as loud, worded by what it is.
  for (const n of cfg.smtp.allowedNetworks.filter((c) => !isWholeInternet(c) && isVeryWide(c))) {
    out.push(`smtp.allowedNetworks contains ${n}: wider than an IPv4 /8 or an IPv6 /16, much of the Internet may connect to SMTP; list your MTAs' networks`);
  }
  return out;
}

/** The open settings of configWarnings, each on its own loud line (MK003). */
export function logConfigWarnings(config: Config, log: Logger): void {
  for (const detail of configWarnings(config)) log.warn({ evt: EVT.CONFIG_WARNING, detail }, `open setting: ${detail}`);
}

/** The SQL connection string after defaults: SQLite in the data dir unless configured. */
export function databaseUrlOf(cfg: Config): string {
  return cfg.databaseUrl || `sqlite:${path.join(cfg.dataDir, 'mukaika.sqlite')}`;
}

// `sha256`: the hash of a scoped token (http.tokens), masked like tokenHashes while its scope stays visible.
const SECRET_KEYS = new Set(['tokenHashes', 'sha256', 'siteSecret']);
// `tokens` (http.tokens) is a list of { sha256, scope }: walked, so that each hash is masked by its own key and
// the scope stays visible; every other key named like a secret is masked whole.
const SHOWN_KEYS = new Set(['tokens']);
const secretKey = (key: string) => !SHOWN_KEYS.has(key) && (SECRET_KEYS.has(key) || /(password|secret|token)s?$/i.test(key));

/** The effective config as YAML-able data with secrets, URL passwords and secret URL parameters masked. */
export function maskedConfig(cfg: Config): Tree {
  const mask = (v: unknown, key: string): unknown => {
    if (secretKey(key)) return Array.isArray(v) ? v.map(() => '***') : '***';
    if (typeof v === 'string') return maskSecrets(v);
    if (Array.isArray(v)) return v.map((x) => mask(x, ''));
    if (isTree(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mask(x, k)]));
    return v;
  };
  return mask(cfg, '') as Tree;
}
