// A child process run as another user (nobody) must not depend on the
// permissions of the folder the project was cloned into (mktemp -d makes it
// 0700, Ubuntu's home folders are 0750) nor of the folder the node binary
// lives in (CI keeps official Node binaries under $HOME/.cache). This copies
// what such a child needs — node, dist/, the addon and node-gyp-build — into
// a world-readable temporary folder, once per test file.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll } from 'vitest';

const root = path.resolve(__dirname, '..', '..');
let copy: { dir: string; node: string; dist: string; env: NodeJS.ProcessEnv } | undefined;

// Registered when a test file imports this module, so it runs after that file.
afterAll(() => {
  if (copy) fs.rmSync(copy.dir, { recursive: true, force: true });
  copy = undefined;
});

export function worldReadableCopy(): { node: string; dist: string; env: NodeJS.ProcessEnv } {
  if (copy) return copy;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-nobody-'));
  const node = path.join(dir, 'node');
  fs.copyFileSync(process.execPath, node, fs.constants.COPYFILE_FICLONE);
  fs.cpSync(path.join(root, 'dist'), path.join(dir, 'dist'), { recursive: true });
  fs.cpSync(path.join(root, 'node_modules', 'node-gyp-build'), path.join(dir, 'node_modules', 'node-gyp-build'), { recursive: true });
  fs.copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
  const env: NodeJS.ProcessEnv = { ...process.env };
  const addon = process.env.RINGWIRE_ADDON
    ? path.resolve(process.env.RINGWIRE_ADDON)
    : require(path.join(root, 'node_modules', 'node-gyp-build')).path(root);
  fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
  fs.copyFileSync(addon, path.join(dir, 'build', 'Release', 'ringwire.node'));
  if (env.RINGWIRE_ADDON) env.RINGWIRE_ADDON = path.join(dir, 'build', 'Release', 'ringwire.node');
  // Directories 0755, files 0644 (node 0755): readable by any user.
  const open = (p: string) => {
    const st = fs.statSync(p);
    fs.chmodSync(p, st.isDirectory() || p === node ? 0o755 : 0o644);
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) open(path.join(p, e));
  };
  open(dir);
  copy = { dir, node, dist: path.join(dir, 'dist'), env };
  return copy;
}
