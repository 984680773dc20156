// The one compiler flag set (native/common-flags.txt) for native code built
// outside CMake: the bench programs (bench/ring, bench/floor, and the blaster of
// `ringwire perf packet-ring`, lib/cli/perf/packet-ring/blast.c)
// compile with exactly the addon's flags (CMakeLists.txt reads the same file,
// so does bench/c/Makefile and test/helpers/shm.ts), so a comparison never
// hides a compiler difference and -Werror holds everywhere.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const file = path.join(__dirname, '..', 'native', 'common-flags.txt');

/** The flags as an argv array. */
exports.commonFlags = () => fs.readFileSync(file, 'utf8').trim().split(/\s+/);
