// The published artefact: a prebuild made by prebuildify loads through
// node-gyp-build, and a packed tarball installs into a fresh project without
// compiling, loads from both require and import, and type-checks.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..');
const npm = 'npm';

// Builds and installs take minutes on a loaded machine: a synchronous child
// would block this test worker's event loop past vitest's 60 s RPC timeout
// ("Timeout calling onTaskUpdate", an unhandled error that fails the run).
function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    c.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    c.on('error', reject);
    c.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('packaging', () => {
  it('npm run prebuild produces prebuilds/linux-x64/ringwire.node with only system libraries', async () => {
    const r = await run(npm, ['run', 'prebuild'], { cwd: root });
    expect(r.status, r.stderr).toBe(0);
    const file = path.join(root, 'prebuilds', `linux-${process.arch}`, 'ringwire.node');
    expect(fs.existsSync(file)).toBe(true);
    const ldd = execFileSync('ldd', [file], { encoding: 'utf8' });
    expect(ldd).not.toMatch(/liburing/);
    for (const line of ldd.split('\n').filter((l) => l.includes('=>'))) {
      expect(line).toMatch(/lib(c|m|stdc\+\+|gcc_s)\.so|ld-linux/);
    }
    const syms = execFileSync('nm', ['-D', '--defined-only', file], { encoding: 'utf8' })
      .split('\n').filter(Boolean).map((l) => l.split(' ').pop());
    expect(syms.sort()).toEqual(['napi_register_module_v1', 'node_api_module_get_api_version_v1']);
    // node-gyp-build picks the prebuild when no local build exists.
    const pick = execFileSync(process.execPath, ['-e', `
      const fs=require('fs');const p=require('path');
      const tmp=fs.mkdtempSync(require('os').tmpdir()+'/rw-pb-');
      fs.cpSync(${JSON.stringify(path.join(root, 'prebuilds'))}, p.join(tmp,'prebuilds'), {recursive:true});
      fs.writeFileSync(p.join(tmp,'package.json'), JSON.stringify({name:'ringwire'}));
      const ngb=require(${JSON.stringify(require.resolve('node-gyp-build'))});
      console.log(ngb.path(tmp)); console.log(typeof ngb(tmp).probe);
      fs.rmSync(tmp,{recursive:true});`], { encoding: 'utf8' });
    expect(pick).toMatch(/prebuilds\/linux-x64\/ringwire\.node\nfunction/);
  }, 180_000);

  it('a packed tarball installs into a fresh project without compiling and loads (require, import, types)', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-pack-'));
    try {
      const packed = await run(npm, ['pack', '--pack-destination', tmp, '--json'], { cwd: root });
      expect(packed.status, packed.stderr).toBe(0);
      const out = packed.stdout;
      const tgz = path.join(tmp, JSON.parse(out.slice(out.indexOf('[')))[0].filename);
      const proj = path.join(tmp, 'consumer');
      fs.cpSync(path.join(__dirname, 'fixtures', 'consumer'), proj, { recursive: true });
      fs.writeFileSync(path.join(proj, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
      // No compiler prerequisites on PATH beyond node: a compile attempt would fail loudly.
      const inst = await run(npm, ['install', '--no-audit', '--no-fund', '--foreground-scripts', tgz, path.join(root, 'node_modules', 'typescript'), path.join(root, 'node_modules', '@types', 'node')], { cwd: proj });
      expect(inst.status, inst.stderr).toBe(0);
      const pkgDir = path.join(proj, 'node_modules', 'ringwire');
      expect(fs.existsSync(path.join(pkgDir, 'build'))).toBe(false); // used the prebuild, compiled nothing
      const cjs = execFileSync(process.execPath, ['-e', "const r=require('ringwire');console.log(r.capabilities().io_uring.available, require('node-gyp-build').path(require('path').dirname(require.resolve('ringwire/package.json'))))"], { cwd: proj, encoding: 'utf8' });
      expect(cjs).toMatch(/^true .*prebuilds/);
      const esm = execFileSync(process.execPath, ['--input-type=module', '-e', "import {capabilities} from 'ringwire'; import d from 'ringwire'; console.log(capabilities().addon.available, typeof d.doctor)"], { cwd: proj, encoding: 'utf8' });
      expect(esm.trim()).toBe('true function');
      const tsc = await run(process.execPath, [path.join(proj, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', proj]);
      expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
      const doc = await run(path.join(proj, 'node_modules', '.bin', 'ringwire'), ['doctor', '--require', 'io_uring']);
      expect(doc.status, doc.stderr).toBe(0);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }, 300_000);

  it('a source install without prerequisites fails with one message naming what to install', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-noprereq-'));
    try {
      fs.cpSync(path.join(root, 'scripts'), path.join(tmp, 'scripts'), { recursive: true });
      fs.writeFileSync(path.join(tmp, 'package.json'), JSON.stringify({ name: 'ringwire' }));
      fs.symlinkSync(path.join(root, 'node_modules'), path.join(tmp, 'node_modules'));
      // A PATH holding only node: no cmake, no compiler, no make.
      const bin = path.join(tmp, 'bin');
      fs.mkdirSync(bin);
      fs.symlinkSync(process.execPath, path.join(bin, 'node'));
      const r = await run(process.execPath, ['scripts/install.js'], { cwd: tmp, env: { PATH: bin, npm_config_nodedir: '/usr' } });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/cannot build from source/);
      expect(r.stderr).toMatch(/apt-get install -y .*cmake/);
      expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(3);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
