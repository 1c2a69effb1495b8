// End to end in a real VS Code: code-server (VS Code's workbench served to a
// browser) in headless Chromium, driven by playwright-core. The freshly
// packaged .vsix is installed, a workspace whose launch.json names the
// field-crash fixture core is opened, F5 starts the session, and the test
// reads what a person would see: the Call Stack paused on the exception in
// dm_hash_node_t::clear, the Registers scope with the faulting register, the
// Fault Analysis and Coroutines views. Screenshots go to DSECORE_ARTIFACTS.
//
// DSECORE_CODE_SERVER: a code-server install (scripts/install-code-server.sh);
// DSECORE_FIXTURES: the fixture tree; DSECORE_VSIX: the package to install.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const codeServer = resolve(process.env.DSECORE_CODE_SERVER ?? '../build/code-server');
const entry = join(codeServer, 'node_modules/code-server/out/node/entry.js');
const vsix = resolve(process.env.DSECORE_VSIX ?? '../build/dsecore.vsix');
const fixtures = process.env.DSECORE_FIXTURES;
const artifacts = resolve(process.env.DSECORE_ARTIFACTS ?? '../build/artifacts');
const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

let server;
let browser;
let page;
let work;
let expected;
let shotN = 0;

async function shot(name) {
  mkdirSync(artifacts, { recursive: true });
  const p = join(artifacts, `vscode-${String(++shotN).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: p });
  return p;
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

async function waitHealthy(port, ms) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (r.ok) {
        return;
      }
    } catch {
      // not up yet
    }
    if (Date.now() > end) {
      throw new Error(`code-server did not answer on port ${port} in ${ms} ms`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

before(async () => {
  assert.ok(existsSync(entry), `code-server is not installed in ${codeServer} (scripts/install-code-server.sh)`);
  assert.ok(existsSync(vsix), `no .vsix at ${vsix} (npm run package)`);
  assert.ok(existsSync(browserPath), `no Chromium at ${browserPath} (apt-get install chromium)`);
  assert.ok(fixtures && existsSync(join(fixtures, 'field-crash', 'core')), 'DSECORE_FIXTURES must name the fixture tree');
  expected = JSON.parse(readFileSync(join(fixtures, 'field-crash', 'expected.json'), 'utf8'));

  work = mkdtempSync(join(tmpdir(), 'dsecore-e2e-'));
  const cfg = join(work, 'config.yaml');
  writeFileSync(cfg, 'auth: none\ncert: false\n');
  const common = ['--config', cfg, '--user-data-dir', join(work, 'data'), '--extensions-dir', join(work, 'ext')];
  // A quiet workbench: no welcome page, no prompts about the repository.
  mkdirSync(join(work, 'data', 'User'), { recursive: true });
  writeFileSync(join(work, 'data', 'User', 'settings.json'), JSON.stringify({
    'workbench.startupEditor': 'none', 'workbench.tips.enabled': false, 'telemetry.telemetryLevel': 'off',
    'git.openRepositoryInParentFolders': 'never', 'git.enabled': false, 'extensions.autoCheckUpdates': false, 'extensions.autoUpdate': false,
  }));

  // Install the package the way a user does.
  const inst = spawnSync(process.execPath, [entry, ...common, '--install-extension', vsix], { encoding: 'utf8', timeout: 120000 });
  assert.equal(inst.status, 0, `--install-extension: ${inst.stdout}\n${inst.stderr}`);
  assert.match(inst.stdout + inst.stderr, /was successfully installed/);

  // A workspace with a launch.json naming the fixture core.
  const ws = join(work, 'workspace');
  mkdirSync(join(ws, '.vscode'), { recursive: true });
  writeFileSync(join(ws, '.vscode', 'launch.json'), JSON.stringify({
    version: '0.2.0',
    configurations: [{
      type: 'dsecore', request: 'launch', name: 'ceph-dse field crash',
      coreFile: join(fixtures, 'field-crash', 'core'),
      program: join(fixtures, 'bin', 'ceph-dse'),
      logFiles: [join(fixtures, 'field-crash')],
    }, {
      type: 'dsecore', request: 'launch', name: 'core with a missing library',
      coreFile: join(fixtures, 'missing-lib', 'core'),
    }],
  }, null, 2));
  writeFileSync(join(ws, 'README.txt'), 'ceph-dse field crash\n');

  const port = await freePort();
  server = spawn(process.execPath, [entry, ...common, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`,
    '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override', ws],
  { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  server.stdout.on('data', (d) => { log += d; });
  server.stderr.on('data', (d) => { log += d; });
  try {
    await waitHealthy(port, 60000);
  } catch (e) {
    throw new Error(`${e.message}\n${log}`);
  }

  browser = await chromium.launch({
    executablePath: browserPath, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(ws)}`);
  await page.waitForSelector('.monaco-workbench .part.activitybar', { timeout: 90000 });
});

after(async () => {
  try {
    if (page) {
      await page.keyboard.press('Shift+F5').catch(() => {});
      await new Promise((r) => setTimeout(r, 500));
    }
    await browser?.close();
  } finally {
    if (server?.pid) {
      try {
        process.kill(-server.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }
});

async function runCommand(title) {
  await page.keyboard.press('Control+Shift+P');
  const input = page.locator('.quick-input-widget .quick-input-box input.input');
  await input.waitFor({ timeout: 15000 });
  await input.fill('>' + title);
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first().waitFor({ timeout: 15000 });
  await page.keyboard.press('Enter');
}

test('Start Debugging on a core: the call stack is paused on the exception in dm_hash_node_t::clear', async () => {
  await page.locator('.monaco-workbench .part.editor').click();
  await page.keyboard.press('Control+Shift+D');
  const start = page.locator('[aria-label^="Start Debugging"]').first();
  await start.waitFor({ timeout: 30000 });
  await shot('run-and-debug');
  await start.click();
  const clear = page.locator('.debug-call-stack .monaco-list-row:has(.stack-frame)', { hasText: 'dm_hash_node_t::clear' }).first();
  await clear.waitFor({ timeout: 90000 }).catch(async (e) => {
    await shot('failed-call-stack');
    throw e;
  });
  const stack = await page.locator('.debug-call-stack').innerText();
  await shot('call-stack');
  // The crashing thread's header: VS Code shows the stopped event's
  // description there (it would say "Paused on exception" without one).
  const header = await page.locator('.debug-call-stack .monaco-list-row:has(.thread)', { hasText: `LWP ${expected.crash_lwp} Processer_5` }).first().innerText();
  assert.match(header, /SIGSEGV \(SEGV_MAPERR\) at 0x0 in dm_hash_node_t::clear\(\)/i);
  assert.match(stack, new RegExp(`LWP ${expected.crash_lwp} Processer_5`));
  assert.match(stack, /<signal handler called>|signal handler/);
  assert.match(stack, /dm_hash_node_t::clear/);
  assert.match(stack, /LWP \d+ Processer_[0-46-7]\n/);
});

test('Variables: the Registers scope of clear() holds the faulting register', async () => {
  try {
    await registers();
  } catch (e) {
    await shot('failed-registers');
    throw e;
  }
});

async function registers() {
  await page.locator('.debug-call-stack .monaco-list-row:has(.stack-frame)', { hasText: 'dm_hash_node_t::clear' }).first().click();
  const vars = page.locator('.debug-variables');
  // clear()'s scopes are shown once `this` is the node.
  await vars.locator('.monaco-list-row', { hasText: new RegExp(`this\\s*=\\s*${expected.node}`) }).first().waitFor({ timeout: 30000 });
  await new Promise((r) => setTimeout(r, 500));
  const scopes = await vars.innerText();
  for (const scope of ['Arguments', 'Locals', 'Registers', 'Fault analysis']) {
    assert.match(scopes, new RegExp(`^${scope}$`, 'm'));
  }
  const regs = vars.locator('.monaco-list-row', { hasText: /^\s*Registers\s*$/ }).first();
  await regs.waitFor({ timeout: 30000 });
  if ((await regs.getAttribute('aria-expanded')) !== 'true') {
    await regs.click();
  }
  const rbx = vars.locator('.monaco-list-row', { hasText: /^\s*rbx/ }).first();
  await rbx.waitFor({ timeout: 30000 });
  // The view refreshes for the selected frame: wait for clear()'s registers.
  let text = '';
  for (let i = 0; i < 40; i++) {
    text = await rbx.innerText();
    if (/0x0000000000000000/.test(text)) {
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  await shot('registers');
  assert.match(text, /rbx\s*[:=]?\s*0x0000000000000000/);
  const rbp = await vars.locator('.monaco-list-row', { hasText: /^\s*rbp/ }).first().innerText();
  assert.match(rbp, new RegExp(BigInt(expected.fault_regs.rbp).toString(16).padStart(16, '0')));
}

test('the Fault Analysis view shows the verdict; Coroutines lists the Processers', async () => {
  await runCommand('dsecore: Show Fault Analysis');
  const verdict = page.locator('.monaco-list-row', { hasText: 'Verdict (high)' }).first();
  await verdict.waitFor({ timeout: 30000 });
  await shot('fault-analysis');
  const row = await verdict.innerText();
  assert.match(row, /NULL pointer read in boost::intrusive::list_node_traits<void\*>::get_next/);
  const pane = page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'Fault Analysis' }) });
  const paneText = await pane.innerText();
  assert.match(paneText, /Faulting instruction: mov {4}\(%rbx\),%rbx/);
  assert.match(paneText, /Bad register: %rbx = 0x0/);
  // The tree renders what fits: scroll to the other holders of the object.
  const others = pane.locator('.monaco-list-row', { hasText: 'Others on the same object' });
  for (let i = 0; i < 20 && (await others.count()) === 0; i++) {
    await pane.locator('.pane-body').hover();
    await page.mouse.wheel(0, 200);
    await new Promise((r) => setTimeout(r, 200));
  }
  await others.first().waitFor({ timeout: 10000 });
  await pane.locator('.monaco-list-row', { hasText: 'task 15 (Processer 6, block)' }).first().waitFor({ timeout: 10000 });
  await shot('fault-analysis-others');

  const co = page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'Coroutines' }) });
  const coHeader = co.locator('.pane-header').first();
  if ((await coHeader.getAttribute('aria-expanded')) !== 'true') {
    await coHeader.click();
  }
  await co.locator('.monaco-list-row', { hasText: 'Processer 0' }).first().waitFor({ timeout: 30000 }).catch(async (e) => {
    await shot('failed-coroutines');
    throw e;
  });
  await shot('coroutines');
  assert.match(await co.innerText(), new RegExp(`Processer 0\\s*LWP \\d+ Processer_0`));
  // A task's row shows its stack (a quick pick of its frames).
  await co.locator('.monaco-list-row', { hasText: 'task 1 [wait]' }).first().click();
  const pick = page.locator('.quick-input-widget');
  await pick.locator('.monaco-list-row', { hasText: 'co::Processer::SwapOut' }).first().waitFor({ timeout: 30000 });
  const frames = await pick.innerText();
  await shot('task-stack');
  assert.match(frames, /Stack of task 1/);
  assert.match(frames, /sleeper_body/);
  await page.keyboard.press('Escape');
});

test('a missing library becomes a notification with an action to fix the path', async () => {
  await page.keyboard.press('Escape');
  const select = page.locator('.part.sidebar select').first();
  await select.selectOption({ label: 'core with a missing library' });
  await page.locator('[aria-label^="Start Debugging"]').first().click();
  const toast = page.locator('.notifications-toasts .notification-toast', {
    hasText: 'not found:', has: page.locator('.monaco-button', { hasText: 'Choose Library Folder' }),
  }).first();
  await toast.waitFor({ timeout: 60000 }).catch(async (e) => {
    await shot('failed-missing-library');
    throw e;
  });
  await shot('missing-library');
  assert.match(await toast.innerText(), /dsecore: not found: .*bin-gone\/libdcache\.so/);
  // The session itself still opens the core, with what it has.
  await page.locator('.debug-call-stack .monaco-list-row', { hasText: 'core with a missing library' }).first().waitFor({ timeout: 30000 });
});
