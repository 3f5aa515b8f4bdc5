import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { configSchema, type Config } from './schema.js';
import { MukaikaError } from '../errors.js';
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

function readYaml(file: string): Tree {
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new MukaikaError('CONFIG_INVALID', `cannot read ${file}: ${(err as Error).message}`);
  }
  if (doc == null) return {};
  if (!isTree(doc)) throw new MukaikaError('CONFIG_INVALID', `${file}: top level must be a mapping`);
  return doc;
}

function intFromEnv(name: string, raw: string): number {
  if (!/^\d+$/.test(raw)) throw new MukaikaError('CONFIG_INVALID', `${name}: must be a port number, got "${raw}"`);
  return Number(raw);
}

/** The environment variables of BRIEF §3, mapped onto config keys. */
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
  return deepFreeze(cfg);
}

/** The SQL connection string after defaults: SQLite in the data dir unless configured. */
export function databaseUrlOf(cfg: Config): string {
  return cfg.databaseUrl || `sqlite:${path.join(cfg.dataDir, 'mukaika.sqlite')}`;
}

// `sha256`: the hash of a scoped token (http.tokens), masked like tokenHashes while its scope stays visible.
const SECRET_KEYS = new Set(['tokenHashes', 'sha256', 'siteSecret']);

/** The effective config as YAML-able data with secrets and URL passwords masked. */
export function maskedConfig(cfg: Config): Tree {
  const mask = (v: unknown, key: string): unknown => {
    if (SECRET_KEYS.has(key)) return Array.isArray(v) ? v.map(() => '***') : '***';
    if (typeof v === 'string') return v.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
    if (Array.isArray(v)) return v.map((x) => mask(x, ''));
    if (isTree(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mask(x, k)]));
    return v;
  };
  return mask(cfg, '') as Tree;
}
