#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { runCommand } from './runtime/commands.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string' }, password: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    since: { type: 'string' }, 'failed-since': { type: 'string' },
  },
});

runCommand(positionals, values).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    console.error(`mukaika: ${(err as Error).message ?? String(err)}`);
    process.exitCode = 1;
  },
);
