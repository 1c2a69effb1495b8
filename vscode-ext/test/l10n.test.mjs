// The extension's words in VS Code's display language: every string the
// code shows through vscode.l10n.t has its Simplified Chinese in
// l10n/bundle.l10n.zh-cn.json with the same placeholders, and every
// %key% of package.json is in package.nls.json and package.nls.zh-cn.json.
// (The e2e test sees them in a real VS Code with its locale zh-cn.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const read = (p) => readFileSync(new URL(`../${p}`, import.meta.url), 'utf8');
const placeholders = (s) => [...s.matchAll(/\{(\d+)\}/g)].map((m) => m[1]).sort().join(',');

// The messages of the sources: t('…') and vscode.l10n.t('…') calls.
function messages() {
  const out = new Set();
  for (const f of readdirSync(new URL('../src/', import.meta.url)).filter((f) => f.endsWith('.ts'))) {
    for (const m of read(`src/${f}`).matchAll(/\bt\(\s*'((?:\\.|[^'\\])*)'/g)) {
      out.add(m[1].replace(/\\'/g, '\''));
    }
  }
  return out;
}

test('every message of the sources has its Simplified Chinese, placeholders kept', () => {
  const zh = JSON.parse(read('l10n/bundle.l10n.zh-cn.json'));
  const used = messages();
  assert.ok(used.size > 50, `${used.size} messages found in src`);
  for (const m of used) {
    assert.ok(m in zh, `no zh-cn for ${JSON.stringify(m)}`);
    assert.equal(placeholders(zh[m]), placeholders(m), `placeholders of ${JSON.stringify(m)}`);
    if (/[a-z]{3,} [a-z]{3,}/.test(m)) {
      assert.match(zh[m], /\p{Script=Han}/u, `zh-cn of ${JSON.stringify(m)} is not Chinese`);
    }
  }
  for (const k of Object.keys(zh)) {
    assert.ok(used.has(k), `bundle.l10n.zh-cn.json: ${JSON.stringify(k)} is used nowhere`);
  }
});

test('package.json names every contributed word by a key both package.nls files have', () => {
  const pkg = read('package.json');
  const en = JSON.parse(read('package.nls.json'));
  const zh = JSON.parse(read('package.nls.zh-cn.json'));
  const keys = new Set([...pkg.matchAll(/"%([^%"]+)%"/g)].map((m) => m[1]));
  assert.ok(keys.has('view.faultAnalysis.name') && keys.has('command.openCore.title'), [...keys].join(' '));
  for (const k of keys) {
    assert.ok(k in en, `package.nls.json lacks ${k}`);
    assert.ok(k in zh, `package.nls.zh-cn.json lacks ${k}`);
  }
  assert.deepEqual(Object.keys(zh).sort(), Object.keys(en).sort());
  for (const [k, v] of Object.entries(zh)) {
    assert.match(v, /\p{Script=Han}/u, `${k}: ${v}`);
  }
  assert.equal(JSON.parse(pkg).l10n, './l10n');
});

test('a launch carries VS Code\'s display language unless it names one', () => {
  const cfg = require('../out/config.js');
  const base = { type: 'dsecore', request: 'launch', coreFile: '/c' };
  assert.equal(cfg.resolveConfig(base, '/ws', { lang: 'zh-cn' }).lang, 'zh-cn');
  assert.equal(cfg.resolveConfig({ ...base, lang: 'en' }, '/ws', { lang: 'zh-cn' }).lang, 'en');
  assert.equal('lang' in cfg.resolveConfig(base, '/ws'), false);
  assert.throws(() => cfg.resolveConfig({ ...base, lang: 7 }, '/ws'), cfg.ConfigError);
});
