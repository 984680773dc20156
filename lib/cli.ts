#!/usr/bin/env node
// The package's "bin" (dist/cli.js): runs the `ringwire` command, which lives
// in lib/cli/ with doctor's presentation and the perf harness.
import { main } from './cli/main';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`ringwire: ${err?.stack ?? err}\n`);
    process.exitCode = 1;
  },
);
