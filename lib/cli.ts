#!/usr/bin/env node
// The `ringwire` command: doctor and perf. Exit codes: 0 ok, 1 a required
// facility is missing or a run failed, 2 bad arguments.
import { doctor, formatReport, missingFacilities, facilityNames } from './doctor';

const USAGE = `usage: ringwire doctor [--json] [--require <facility,...>]
       ringwire --version
       ringwire perf <server|client|compare> ...   (ringwire perf --help)
facilities: ${facilityNames.join(', ')}`;

function usage(msg?: string): number {
  if (msg) process.stderr.write(`ringwire: ${msg}\n`);
  process.stderr.write(`${USAGE}\n`);
  return 2;
}

function runDoctor(args: string[]): number {
  let json = false;
  let required: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--json') json = true;
    else if (a === '--require') {
      const v = args[++i];
      if (!v) return usage('--require needs a comma-separated list');
      required = v.split(',').map((s) => s.trim()).filter(Boolean);
    } else if (a.startsWith('--require=')) required = a.slice(10).split(',').filter(Boolean);
    else return usage(`unknown option ${a}`);
  }
  const rep = doctor();
  let missing: string[];
  try {
    missing = missingFacilities(required, rep.capabilities);
  } catch (e) {
    return usage((e as Error).message);
  }
  if (json) process.stdout.write(`${JSON.stringify({ ...rep, required, missing }, null, 2)}\n`);
  else {
    process.stdout.write(`${formatReport(rep)}\n`);
    if (missing.length) process.stdout.write(`required but missing: ${missing.join(', ')}\n`);
  }
  return missing.length ? 1 : 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'doctor':
      return runDoctor(rest);
    case 'perf': {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const perf = require('./perf/cli') as { main(a: string[]): Promise<number> };
      return perf.main(rest);
    }
    case '-v':
    case '--version':
    case 'version': {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const { packageRoot } = require('./internal/native') as typeof import('./internal/native');
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const fs = require('node:fs') as typeof import('node:fs');
      const pkg = JSON.parse(fs.readFileSync(`${packageRoot}/package.json`, 'utf8')) as { version: string };
      process.stdout.write(`${pkg.version}\n`);
      return 0;
    }
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      return usage(cmd ? `unknown command '${cmd}'` : 'missing command');
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`ringwire: ${err?.stack ?? err}\n`);
      process.exitCode = 1;
    },
  );
}
