// Unit tests of the extension's own logic (out/config.js, compiled from
// src/config.ts): binary lookup, configuration resolution, "Open Core Dump…"
// configurations, the adapter's important messages. No VS Code needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, delimiter } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cfg = require('../out/config.js');

function exe(dir, name = 'dsecore', mode = 0o755) {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, name);
  writeFileSync(p, '#!/bin/sh\n');
  chmodSync(p, mode);
  return p;
}

test('findBinary: setting, then the bundled binary, then PATH', () => {
  const root = mkdtempSync(join(tmpdir(), 'dsecore-find-'));
  const ext = join(root, 'ext');
  const onPath = exe(join(root, 'path-bin'));
  const pathEnv = ['/nonexistent', join(root, 'path-bin')].join(delimiter);
  // Nothing bundled: PATH.
  assert.deepEqual(cfg.findBinary('', ext, pathEnv), { path: onPath, source: 'PATH' });
  // Bundled wins over PATH.
  const bundled = exe(join(ext, 'bin'));
  assert.deepEqual(cfg.findBinary(undefined, ext, pathEnv), { path: bundled, source: 'bundled' });
  // The setting wins over both.
  const set = exe(join(root, 'custom'));
  assert.deepEqual(cfg.findBinary(set, ext, pathEnv), { path: set, source: 'setting' });
  // A wrong setting is an error naming it, not a silent fallback.
  assert.throws(() => cfg.findBinary(join(root, 'nope'), ext, pathEnv), /dsecore\.path is set to .*nope/);
  // A non-executable file is not a binary.
  const plain = exe(join(root, 'plain'), 'dsecore', 0o644);
  assert.throws(() => cfg.findBinary(plain, ext, pathEnv), /not an executable/);
  // Nowhere at all.
  assert.throws(() => cfg.findBinary('', join(root, 'empty'), '/nonexistent'), /not found: set dsecore\.path/);
});

test('resolveConfig completes and checks a launch configuration', () => {
  const c = cfg.resolveConfig({ type: 'dsecore', request: 'launch', coreFile: 'cores/core.1', solibSearchPath: 'lib', logFiles: ['/var/log/ceph-dse'] }, '/ws');
  assert.equal(c.coreFile, '/ws/cores/core.1');
  assert.equal(c.name, 'core core.1');
  assert.deepEqual(c.solibSearchPath, ['/ws/lib']);
  assert.deepEqual(c.logFiles, ['/var/log/ceph-dse']);
  assert.equal(c.showTasks, 'all');
  assert.equal(c.request, 'launch');
  assert.equal('program' in c, false);

  const a = cfg.resolveConfig({ request: 'attach', name: 'x', coreFile: '/c', program: '', showTasks: 'crash-related',
    substitutePath: [{ from: '/build/', to: '/src/' }], sourceFileMap: { '/build': '/src' } }, undefined);
  assert.equal(a.request, 'attach');
  assert.equal(a.type, 'dsecore');
  assert.equal('program' in a, false);
  assert.equal(a.showTasks, 'crash-related');

  for (const [bad, msg] of [
    [{}, /coreFile is required/],
    [{ coreFile: '' }, /coreFile is required/],
    [{ coreFile: '/c', solibSearchPath: [1] }, /solibSearchPath must be an array of strings/],
    [{ coreFile: '/c', showTasks: 'some' }, /showTasks must be/],
    [{ coreFile: '/c', substitutePath: [{ from: '/a' }] }, /substitutePath must be an array of \{"from", "to"\}/],
    [{ coreFile: '/c', sourceFileMap: ['/a'] }, /sourceFileMap must map/],
    [{ coreFile: '/c', program: 7 }, /program must be a path/],
  ]) {
    assert.throws(() => cfg.resolveConfig(bad, '/ws'), (e) => e instanceof cfg.ConfigError && msg.test(e.message), JSON.stringify(bad));
  }
});

test('resolveConfig takes the coroutine profile from the launch configuration, else the dsecore.profile setting', () => {
  const base = { type: 'dsecore', request: 'launch', coreFile: '/c' };
  // The setting when the configuration names none; a file relative to the workspace.
  assert.equal(cfg.resolveConfig(base, '/ws', { profile: 'profiles/fork.yaml' }).profile, '/ws/profiles/fork.yaml');
  assert.equal(cfg.resolveConfig({ ...base, profile: '' }, '/ws', { profile: 'libgo-v3' }).profile, 'libgo-v3');
  // The configuration wins; built-in names stay names.
  assert.equal(cfg.resolveConfig({ ...base, profile: 'ceph-dse-boost181' }, '/ws', { profile: 'fork.yaml' }).profile, 'ceph-dse-boost181');
  assert.equal(cfg.resolveConfig({ ...base, profile: '~/fork.yml' }, '/ws').profile, join(process.env.HOME ?? '/', 'fork.yml'));
  // Neither: the adapter's default.
  assert.equal('profile' in cfg.resolveConfig(base, '/ws', { profile: ' ' }), false);
  assert.throws(() => cfg.resolveConfig({ ...base, profile: 3 }, '/ws'), (e) => e instanceof cfg.ConfigError && /profile must be/.test(e.message));
});

test('resolveConfig takes the server token from the launch configuration, else the dsecore.authToken setting', () => {
  const base = { type: 'dsecore', request: 'launch', coreFile: '/c' };
  assert.equal(cfg.resolveConfig(base, '/ws', { authToken: ' 3f9a3f9a \n' }).authToken, '3f9a3f9a');
  assert.equal(cfg.resolveConfig({ ...base, authToken: 'mine' }, '/ws', { authToken: 'setting' }).authToken, 'mine');
  assert.equal(cfg.resolveConfig({ ...base, authToken: '' }, '/ws', { authToken: 'setting' }).authToken, 'setting');
  assert.equal('authToken' in cfg.resolveConfig(base, '/ws', {}), false);
  assert.throws(() => cfg.resolveConfig({ ...base, authToken: 7 }, '/ws'), (e) => e instanceof cfg.ConfigError && /authToken must be a string/.test(e.message));
});

test('serverAddress reads dsecore.server as dsecore dap reads --listen', () => {
  assert.equal(cfg.serverAddress(''), undefined);
  assert.equal(cfg.serverAddress(undefined), undefined);
  assert.deepEqual(cfg.serverAddress('4711'), { host: '127.0.0.1', port: 4711 });
  assert.deepEqual(cfg.serverAddress(':4711'), { host: '127.0.0.1', port: 4711 });
  assert.deepEqual(cfg.serverAddress('debug-host.example:4711'), { host: 'debug-host.example', port: 4711 });
  assert.deepEqual(cfg.serverAddress('[::1]:4711'), { host: '::1', port: 4711 });
  assert.deepEqual(cfg.serverAddress(' unix:/run/user/1000/dsecore.sock '), { path: '/run/user/1000/dsecore.sock' });
  for (const bad of ['unix:', 'host:', 'host:99999', 'host:http', 'x:0']) {
    assert.throws(() => cfg.serverAddress(bad), (e) => e instanceof cfg.ConfigError && /dsecore.server/.test(e.message), bad);
  }
});

test('openCoreConfig and dapArgs build what the adapter is started with', () => {
  assert.deepEqual(cfg.openCoreConfig({ coreFile: '/cores/core.ceph-dse.1', program: '/opt/bin/ceph-dse', libraryDir: '/opt/lib' }), {
    type: 'dsecore', request: 'launch', name: 'Core dump: core.ceph-dse.1', coreFile: '/cores/core.ceph-dse.1',
    showTasks: 'all', program: '/opt/bin/ceph-dse', solibSearchPath: ['/opt/lib'],
  });
  assert.deepEqual(cfg.openCoreConfig({ coreFile: '/c' }), { type: 'dsecore', request: 'launch', name: 'Core dump: c', coreFile: '/c', showTasks: 'all' });
  assert.deepEqual(cfg.dapArgs(), ['dap']);
  assert.deepEqual(cfg.dapArgs('127.0.0.1:4711'), ['dap', '--listen', '127.0.0.1:4711']);
});

test('a module problem offers the fix its fields name; outputs lose the prefix', () => {
  const p = { module: '/opt/lib/libdcache.so', status: 'missing', buildId: 'ab', fix: 'solibSearchPath',
    message: '/opt/lib/libdcache.so: no local file found (build-id ab) (set solibSearchPath or sysroot)' };
  assert.equal(cfg.problemAction(p), 'Choose Library Folder…');
  assert.equal(cfg.problemAction({ ...p, module: '/opt/bin/ceph-dse', fix: 'program' }), 'Choose Executable…');
  assert.equal(cfg.outputText('dsecore: ' + p.message + '\n'), p.message);
});
