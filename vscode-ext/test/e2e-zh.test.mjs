// End to end in a real VS Code whose display language is Simplified
// Chinese: code-server started with --locale zh-cn, the packaged .vsix
// installed, the field-crash fixture core opened. The extension follows
// VS Code's language: its command titles and view names come from
// package.nls.zh-cn.json, its views' words from l10n/bundle.l10n.zh-cn.json,
// and the adapter (told the language by the launch) sends the verdict in
// the message catalog's Chinese. The test reads the Fault Analysis view as
// a person would and fails on English there.
//
// VS Code takes a display language only from an installed language pack
// (a "localizations" contribution); Microsoft's packs come from a
// marketplace a test machine cannot reach, so the test installs a language
// pack of its own, made here: it contributes zh-cn with no translation of
// VS Code's own words (the workbench stays English), which is what makes
// VS Code report zh-cn to extensions (vscode.env.language) and load their
// zh-cn bundles, exactly as with Microsoft's pack.
//
// Environment as test/e2e.test.mjs: DSECORE_CODE_SERVER, DSECORE_FIXTURES,
// DSECORE_VSIX, DSECORE_ARTIFACTS, CHROMIUM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Workbench, artifacts } from './workbench.mjs';

const fixtures = process.env.DSECORE_FIXTURES;
const vsce = resolve('node_modules/@vscode/vsce/vsce');

let wb;
let page;
let failed = false;
// The steps reached, each with its time since the start: printed after
// the run and with a failure, so that a slow or stuck step is named.
const began = Date.now();
const steps = [];
function step(what) {
  steps.push(`${((Date.now() - began) / 1000).toFixed(1)} s ${what}`);
}

async function shot(name) {
  mkdirSync(artifacts, { recursive: true });
  const p = join(artifacts, `vscode-zh-cn-${name}.png`);
  await page.screenshot({ path: p });
  return p;
}

// languagePack packages the zh-cn language pack (see above) as a .vsix.
function languagePack(dir) {
  const src = join(dir, 'language-pack');
  mkdirSync(join(src, 'translations'), { recursive: true });
  writeFileSync(join(src, 'package.json'), JSON.stringify({
    name: 'test-language-pack-zh-hans', displayName: 'Chinese (Simplified) test language pack', publisher: 'dsecore-test',
    version: '0.0.1', license: 'Apache-2.0', engines: { vscode: '^1.90.0' }, categories: ['Language Packs'],
    contributes: {
      localizations: [{
        languageId: 'zh-cn', languageName: 'Chinese Simplified', localizedLanguageName: '中文(简体)',
        translations: [{ id: 'vscode', path: './translations/main.i18n.json' }],
      }],
    },
  }, null, 2));
  writeFileSync(join(src, 'translations', 'main.i18n.json'), JSON.stringify({ version: '1.0.0', contents: {} }));
  writeFileSync(join(src, 'README.md'), 'zh-cn for the dsecore e2e test\n');
  const out = join(dir, 'language-pack.vsix');
  const r = spawnSync(process.execPath, [vsce, 'package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '-o', out],
    { cwd: src, encoding: 'utf8', timeout: 120000 });
  assert.equal(r.status, 0, `vsce package (language pack): ${r.stdout}\n${r.stderr}`);
  return out;
}

// setUp: code-server in zh-cn with the .vsix and the language pack, the
// workbench in a headless Chromium.
async function setUp() {
  assert.ok(existsSync(vsce), `no vsce at ${vsce} (npm ci)`);
  assert.ok(fixtures && existsSync(join(fixtures, 'field-crash', 'core')), 'DSECORE_FIXTURES must name the fixture tree');
  wb = Workbench.prepare('dsecore-e2e-zh-', [{
    type: 'dsecore', request: 'launch', name: 'ceph-dse field crash',
    coreFile: join(fixtures, 'field-crash', 'core'),
    program: join(fixtures, 'bin', 'ceph-dse'),
    logFiles: [join(fixtures, 'field-crash')],
  }]);
  const pack = languagePack(wb.work);
  step('the .vsix installed, the language pack made');
  await wb.open(['--locale', 'zh-cn']);
  page = wb.page;
  step('the workbench loaded');
  // The language pack is installed as a user does, from the workbench
  // (Extensions: Install from VSIX…): the server then records it among its
  // language packs (code-server's command line install does not), and the
  // workbench loaded again is in its language (--locale zh-cn).
  await wb.runCommand('Extensions: Install from VSIX').catch(async (e) => {
    await shot('failed-install-vsix');
    throw e;
  });
  // VS Code's own file picker (a quick input): it fills in a folder of its
  // choosing, and may do so again while it settles (the workspace, then
  // the home folder). The path is typed, and Install pressed once the
  // picker shows the package with the path still in its box; a picker that
  // reset the path meanwhile is still open afterwards, and the path is
  // typed again. Every step is bounded and checked again, since the picker
  // may close at any moment (on Install, later under load). The state the
  // reload needs is the server's record of the language pack
  // (languagepacks.json in its user data): the test waits for that, not
  // for a notification.
  step('Install from VSIX run');
  const dialog = page.locator('.quick-input-widget', { has: page.locator('.quick-input-title', { hasText: 'Install from VSIX' }) });
  const input = dialog.locator('.quick-input-box input.input');
  await dialog.waitFor({ timeout: 60000 }).catch(async () => {
    await shot('failed-language-pack');
    throw new Error('Install from VSIX opened no file picker in 60 s');
  });
  const packs = join(wb.work, 'data', 'languagepacks.json');
  const recorded = () => {
    try {
      return 'zh-cn' in JSON.parse(readFileSync(packs, 'utf8'));
    } catch {
      return false; // not written yet
    }
  };
  const end = Date.now() + 120000;
  let pressed = false;
  while (!recorded()) {
    if (Date.now() > end) {
      await shot('failed-language-pack');
      throw new Error(pressed ? `Install pressed, but the server recorded no zh-cn language pack in ${packs} in 120 s`
        : 'the file picker did not take the language pack\'s path in 120 s');
    }
    if (!await dialog.isVisible()) {
      // Installing: the server writes its record when it is done.
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    if (!await input.fill(pack, { timeout: 5000 }).then(() => true, () => false)) {
      continue;
    }
    const shown = await dialog.locator('.monaco-list-row', { hasText: 'language-pack.vsix' }).first().waitFor({ timeout: 5000 }).then(() => true, () => false);
    if (shown && await input.inputValue({ timeout: 5000 }).catch(() => '') === pack) {
      pressed = await dialog.locator('.monaco-button', { hasText: 'Install' }).first().click({ timeout: 5000 }).then(() => true, () => pressed);
    }
    await dialog.waitFor({ state: 'hidden', timeout: 5000 }).catch(() => {});
  }
  step('the language pack recorded by the server');
  await wb.reload();
  step('the workbench reloaded');
  const lang = await page.evaluate(() => globalThis._VSCODE_NLS_LANGUAGE);
  assert.equal(lang, 'zh-cn', 'the workbench did not take the display language zh-cn');
}

before(async () => {
  try {
    await setUp();
  } catch (e) {
    failed = true;
    throw e;
  }
});

after(async () => {
  console.log(`steps:\n  ${steps.join('\n  ')}`);
  if (failed && wb?.log) {
    mkdirSync(artifacts, { recursive: true });
    writeFileSync(join(artifacts, 'vscode-zh-cn-code-server.log'), wb.log);
  }
  try {
    await wb?.close();
  } finally {
    if (wb?.work && !failed) {
      rmSync(wb.work, { recursive: true, force: true, maxRetries: 5 });
    }
  }
});

// focusRow is the workbench's (test/workbench.mjs), its row's text on one
// line, each row reached a step.
async function focusRow(scope, re, why, maxRows = 200) {
  const text = await wb.focusRow(scope, re, why, { maxRows });
  step(`row: ${why}`);
  return text.replace(/\s+/g, ' ');
}

// English prose a Chinese row must not hold (names, types and instructions
// are the same in every language).
const english = /\b(Verdict|NULL pointer|Likely|Another path|holds the|in the same|came from|underflowed|Faulting instruction|Bad register|Others on the same object|Holders|Timeline|Evidence|the|of|by|and|was|which|through)\b/;

test('in VS Code set to Simplified Chinese, the Fault Analysis view is in Chinese, the verdict too', async () => {
  try {
    // The Run and Debug view, opened from the palette (a shortcut pressed
    // before the workbench takes keys would be lost); Start Debugging
    // clicked once its box offers launch.json's configuration.
    await wb.startDebugging('ceph-dse field crash', { before: async () => step('the Run and Debug view offers the configuration') });
    step('Start Debugging clicked');
    await page.locator('.debug-call-stack .monaco-list-row', { hasText: /SIGSEGV \(SEGV_MAPERR\)/i }).first()
      .waitFor({ timeout: 90000 }).catch(() => {
        throw new Error('the session did not stop with the SIGSEGV thread on the call stack in 90 s');
      });
    step('stopped on SIGSEGV');
    // VS Code opens the faulting frame's source and the exception widget
    // (taking the keyboard focus): the test goes on once it has.
    await page.locator('.tabs-container .tab', { hasText: 'list_node.hpp' }).first().waitFor({ timeout: 30000 }).catch(() => {
      throw new Error('VS Code opened no editor on the faulting frame\'s source (list_node.hpp)');
    });
    const widget = page.locator('.exception-widget', { hasText: /SIGSEGV/ }).first();
    await widget.waitFor({ timeout: 60000 }).catch(() => {
      throw new Error('no exception widget saying SIGSEGV');
    });
    step('the editor and the exception widget open');
    // Its text is the adapter's exceptionInfo: the verdict in Chinese.
    assert.match(await widget.innerText(), /中发生空指针读取：%rbx = 0x0：经空指针读取 0x0 处的 8 字节/);
    // The command's title is package.nls.zh-cn.json's.
    await wb.runCommand('dsecore: 显示故障分析');
    step('the command run');
    // The view's name is too ("故障分析", not "Fault Analysis").
    // The view's name is too ("故障分析", not "Fault Analysis"); the
    // command focuses it, and a view still collapsed is expanded.
    const pane = await wb.expand('故障分析');
    await pane.locator('.monaco-list-row', { hasText: '结论（置信度：高）：' }).first().waitFor({ timeout: 60000 }).catch(() => {
      throw new Error('the 故障分析 view showed no Chinese verdict (结论（置信度：高）：…) in 60 s');
    });
    step('the view shows the verdict');
    await shot('fault-analysis');
    const verdict = await focusRow(pane, /^\s*结论（置信度：高）：/, 'the verdict row');
    // The adapter's Chinese, from the message catalog, every sentence.
    assert.match(verdict, /在 boost::intrusive::list_node_traits<void\*>::get_next 内联于 .* 中发生空指针读取：%rbx = 0x0：经空指针读取 0x0 处的 8 字节（node->next_）/);
    assert.match(verdict, /另一条路径也在操作同一个对象：任务 15 \(Processer 6，block\) 以 `node` 持有属主对象 dm_hash_node_t 0x[0-9a-f]+/);
    assert.match(verdict, /很可能是两条路径并发析构（重复释放）了 dm_hash_node_t 0x[0-9a-f]+ 的对象/);
    const sentences = verdict.replace(/^\s*结论（置信度：高）：/, '').split('。').filter((x) => x.trim() !== '');
    assert.equal(sentences.length, 5, `the verdict's sentences: ${JSON.stringify(sentences)}`);
    for (const x of sentences) {
      assert.doesNotMatch(x.replace(/`[^`]*`/g, ''), english, `English in the Chinese verdict: ${x}`);
    }
    // The view's own words: the extension's zh-cn bundle.
    assert.match(await focusRow(pane, /^\s*出错指令：/, 'the faulting instruction row'), /出错指令：mov {1,4}\(%rbx\),%rbx，位于 0x[0-9a-f]+/);
    assert.match(await focusRow(pane, /^\s*出错寄存器：/, 'the bad register row'), /出错寄存器：%rbx = 0x0\s*%rbx = 0x0：经空指针读取 0x0 处的 8 字节（node->next_）/);
    // Under it, where %rbx came from, in the catalog's Chinese too.
    assert.match(await focusRow(pane, /^\s*%rbx 加载自/, 'the origin of %rbx'), /%rbx 加载自前一个节点的 next_（node->next_，由 get_next 读取）（在循环的上一次迭代中）/);
    await focusRow(pane, /^\s*属主对象：dm_hash_node_t，地址 0x/, 'the owner object row');
    // The list walk and its findings, from the catalog.
    await focusRow(pane, /^\s*链表遍历：dm_hash_node_t::objs（dm_obj_t），可达 0 个节点，size_ -1/, 'the list walk row');
    await focusRow(pane, /^\s*链表的 size_ 为 -1（下溢）：erase 的次数多于元素个数/, 'the size_ finding, in Chinese');
    await focusRow(pane, /^\s*同一对象上的其他路径/, 'the others on the object');
    await focusRow(pane, /^\s*任务 15 \(Processer 6，block\)：寄存器 %rbx 持有 0x[0-9a-f]+/, 'task 15 among the others, in Chinese');
    await focusRow(pane, /^\s*证据/, 'the evidence');
    step('the rows read');
    await shot('fault-analysis-rows');
    // The other view's name is Chinese too.
    await wb.viewPane('协程').locator('.pane-header').first().waitFor({ timeout: 15000 }).catch(() => {
      throw new Error('no 协程 (Coroutines) view');
    });
  } catch (e) {
    failed = true;
    await shot('failed-fault-analysis');
    throw e;
  }
});
