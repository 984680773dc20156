// The `ringwire` command: doctor and perf (lib/cli.ts is its thin entry,
// dist/cli.js the package's "bin"). Exit codes: 0 ok, 1 a required facility
// is missing or a run failed, 2 bad arguments.
import { facilityNames, runDoctor } from './doctor';

const USAGE = `usage: ringwire doctor [--json] [--require <facility,...>]
       ringwire --version
       ringwire perf <server|client|compare> ...   (ringwire perf --help)
facilities: ${facilityNames.join(', ')}`;

function usage(msg?: string): number {
  if (msg) process.stderr.write(`ringwire: ${msg}\n`);
  process.stderr.write(`${USAGE}\n`);
  return 2;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'doctor':
      return runDoctor(rest, usage);
    case 'perf': {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const perf = require('./perf/cli') as { main(a: string[]): Promise<number> };
      return perf.main(rest);
    }
    case '-v':
    case '--version':
    case 'version': {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const { packageRoot } = require('../internal/native') as typeof import('../internal/native');
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
