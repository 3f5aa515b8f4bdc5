import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import { ensureRedis } from '../src/runtime/redis-child.js';
import { runCli } from './helpers/run-cli.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'mukaika-review20-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Site files that do not parse, each with a secret on or next to the line the parser complains about. */
const BROKEN: [string, string, string][] = [
  ['bad indent under a URL', 'smtp:\n  port: 25\n databaseUrl: postgres://u:hunter2@db/x\n', 'YAML BAD_INDENT at line 3, column 1'],
  ['unclosed quote', 'redisUrl: "redis://:hunter2@h:6379\nlog:\n  level: info\n', 'YAML MISSING_CHAR at line 4, column 1'],
  ['duplicate key', 'siteSecret: a\nsiteSecret: hunter2hunter2hunter2hunter2hunter2\n', 'YAML DUPLICATE_KEY at line 2, column 1'],
  ['stray scalar', '- x\nlgwan: hunter2\n', 'YAML UNEXPECTED_TOKEN at line 2, column 1'],
  ['unknown tag', 'siteSecret: !vault hunter2\n', 'YAML TAG_RESOLVE_FAILED at line 1, column 13'],
];

describe('configuration errors never echo a secret', () => {
  it.each(BROKEN)('a site file with a %s: CONFIG_INVALID by position, the text not shown', (_what, yaml, problem) => {
    const file = path.join(dir, `${problem.replace(/\W+/g, '_')}.yaml`);
    writeFileSync(file, yaml);
    expect(() => loadConfig({ env: { MUKAIKA_CONFIG: file } })).toThrow(
      `cannot read ${file}: ${problem} (the text is not shown: it may hold a secret)`,
    );
  });

  it('mukaika config print with such a file exits 1 and prints neither the secret nor the line (no YAML warning either)', async () => {
    const file = path.join(dir, 'cli.yaml');
    writeFileSync(file, 'a:\n  b: 1\n c: postgres://u:hunter2@db/x\nd: !vault hunter2\n');
    const run = await runCli(['config', 'print'], { MUKAIKA_CONFIG: file });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`mukaika: cannot read ${file}: YAML BAD_INDENT at line 3, column 1 (the text is not shown: it may hold a secret)\n`);
  });

  it('an unreachable configured Redis is named with its password masked', async () => {
    // A port nothing listens on: bound, then closed.
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const cfg = loadConfig({ env: {}, overrides: { dataDir: dir, redisUrl: `redis://:p@ss@w0rd@127.0.0.1:${port}/0?password=hunter2` } });
    await expect(ensureRedis(cfg, createLogger('silent'))).rejects.toThrow(
      `Redis is not reachable at redis://:***@127.0.0.1:${port}/0?password=***; start it or fix REDIS_URL`,
    );
  });
});
