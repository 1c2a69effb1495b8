// The workbench steps the end-to-end tests share (test/e2e.test.mjs in
// English, test/e2e-zh.test.mjs in Simplified Chinese): code-server
// started on a workspace with the packaged .vsix installed, its workbench
// in a headless Chromium, a command run from the palette, Run and Debug
// opened and a configuration started, a row of a view reached with the
// keyboard. Every step waits for a state of the page (an element, a view's
// content, the configuration box's choice) and says in its error which
// state never came; none waits for a time or for the page's load events.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const codeServer = resolve(process.env.DSECORE_CODE_SERVER ?? '../build/code-server');
export const entry = join(codeServer, 'node_modules/code-server/out/node/entry.js');
export const vsix = resolve(process.env.DSECORE_VSIX ?? '../build/dsecore.vsix');
export const artifacts = resolve(process.env.DSECORE_ARTIFACTS ?? '../build/artifacts');
export const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

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

// waitHealthy polls code-server's /healthz until it answers.
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

// A Workbench is one code-server with its work directory and the browser
// page showing it.
export class Workbench {
  // prepare makes the work directory (prefix: its name in the temporary
  // directory): code-server's configuration, a quiet user settings file,
  // the .vsix installed the way a user does, and a workspace whose
  // launch.json holds `configurations`.
  static prepare(prefix, configurations) {
    assert.ok(existsSync(entry), `code-server is not installed in ${codeServer} (scripts/install-code-server.sh)`);
    assert.ok(existsSync(vsix), `no .vsix at ${vsix} (npm run package)`);
    assert.ok(existsSync(browserPath), `no Chromium at ${browserPath} (apt-get install chromium)`);
    const wb = new Workbench();
    wb.work = mkdtempSync(join(tmpdir(), prefix));
    const cfg = join(wb.work, 'config.yaml');
    writeFileSync(cfg, 'auth: none\ncert: false\n');
    wb.common = ['--config', cfg, '--user-data-dir', join(wb.work, 'data'), '--extensions-dir', join(wb.work, 'ext')];
    mkdirSync(join(wb.work, 'data', 'User'), { recursive: true });
    writeFileSync(join(wb.work, 'data', 'User', 'settings.json'), JSON.stringify({
      'workbench.startupEditor': 'none', 'workbench.tips.enabled': false, 'telemetry.telemetryLevel': 'off',
      'git.openRepositoryInParentFolders': 'never', 'git.enabled': false, 'extensions.autoCheckUpdates': false, 'extensions.autoUpdate': false,
      // The sources the sessions open are the repository's own: a key that
      // lands in an editor must never reach the disk (Start Debugging saves
      // dirty editors by default).
      'files.readonlyInclude': { '**': true }, 'debug.saveBeforeStart': 'none', 'files.autoSave': 'off',
    }));
    const inst = spawnSync(process.execPath, [entry, ...wb.common, '--install-extension', vsix], { encoding: 'utf8', timeout: 120000 });
    assert.equal(inst.status, 0, `--install-extension ${vsix}: ${inst.stdout}\n${inst.stderr}`);
    assert.match(inst.stdout + inst.stderr, /was successfully installed/);
    wb.ws = join(wb.work, 'workspace');
    mkdirSync(join(wb.ws, '.vscode'), { recursive: true });
    writeFileSync(join(wb.ws, '.vscode', 'launch.json'), JSON.stringify({ version: '0.2.0', configurations }, null, 2));
    return wb;
  }

  constructor() {
    this.log = '';
    this.server = null;
    this.browser = null;
    this.page = null;
  }

  // open starts code-server on the workspace (extra: more of its flags,
  // e.g. --locale) and opens its workbench in a headless Chromium.
  async open(extra = []) {
    const port = await freePort();
    this.server = spawn(process.execPath, [entry, ...this.common, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, ...extra,
      '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override', this.ws],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.server.stdout.on('data', (d) => { this.log += d; });
    this.server.stderr.on('data', (d) => { this.log += d; });
    try {
      await waitHealthy(port, 60000);
    } catch (e) {
      throw new Error(`${e.message}\n${this.log}`);
    }
    this.browser = await chromium.launch({
      executablePath: browserPath, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    this.page = await this.browser.newPage({ viewport: { width: 1600, height: 1000 } });
    // The workbench is there when its activity bar is (not when the page's
    // load event fires: that waits for every script, 30 s at most).
    await this.page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(this.ws)}`, { waitUntil: 'commit', timeout: 60000 });
    await this.ready();
  }

  // reload loads the workbench again (after a language pack is installed).
  async reload() {
    await this.page.reload({ waitUntil: 'commit', timeout: 60000 });
    await this.ready();
  }

  // ready waits for VS Code's workbench in the page: its activity bar.
  async ready() {
    await this.page.waitForSelector('.monaco-workbench .part.activitybar', { timeout: 90000 }).catch(() => {
      throw new Error('no VS Code workbench in the page in 90 s');
    });
  }

  // close stops the debug sessions (the server keeps adapters alive for a
  // reconnection otherwise), closes the browser and ends code-server's
  // process tree.
  async close() {
    try {
      if (this.page) {
        const toolbar = this.page.locator('.debug-toolbar');
        if (await toolbar.isVisible().catch(() => false)) {
          await this.page.keyboard.press('Shift+F5').catch(() => {});
          await toolbar.waitFor({ state: 'hidden', timeout: 15000 }).catch(() => {});
        }
      }
      await this.browser?.close();
    } finally {
      if (this.server?.pid) {
        try {
          process.kill(-this.server.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    }
  }

  // runCommand runs a command from the palette by its title. Right after
  // the workbench loads, a command may not be registered yet, and the
  // palette closes when something else takes the focus (VS Code opening an
  // editor): the palette is asked again (closed and opened) until the
  // command's row is focused, for at most 60 s.
  async runCommand(title) {
    const page = this.page;
    const input = page.locator('.quick-input-widget .quick-input-box input.input');
    const row = page.locator('.quick-input-widget .monaco-list-row.focused', { hasText: title });
    const end = Date.now() + 60000;
    for (;;) {
      if (!await input.isVisible()) {
        await page.keyboard.press('Control+Shift+P');
      }
      const typed = await input.fill('>' + title, { timeout: 5000 }).then(() => true, () => false);
      if (typed && await row.waitFor({ timeout: 5000 }).then(() => true, () => false)) {
        break;
      }
      if (Date.now() > end) {
        throw new Error(`the command palette did not focus "${title}" in 60 s`);
      }
      if (await input.isVisible()) {
        await page.keyboard.press('Escape');
        await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 15000 }).catch(() => {});
      }
    }
    await page.keyboard.press('Enter');
    // The palette has run it: closed, or turned into the command's own
    // picker (Install from VSIX's file picker, a stack's pick).
    await page.waitForFunction((text) => {
      const w = globalThis.document.querySelector('.quick-input-widget');
      const i = w?.querySelector('.quick-input-box input.input');
      return !w || w.style.display === 'none' || !i || i.value !== text;
    }, '>' + title, { timeout: 15000 }).catch(() => {
      throw new Error(`the command palette stayed on "${title}"`);
    });
  }

  // startDebugging starts launch.json's configuration `name` from the Run
  // and Debug view (opened from the palette when it is not shown): the
  // configuration is chosen in the view's box, and Start Debugging is
  // clicked once the box shows it (launch.json is read after the
  // workbench appears). The button is found by its label in English or
  // in Chinese (VS Code's own word, in its display language). before, when
  // given, runs once the box shows the configuration, before the click (a
  // screenshot of the view).
  async startDebugging(name, { before } = {}) {
    const page = this.page;
    const box = page.locator('.start-debug-action-item select').first();
    if (!await box.isVisible()) {
      await this.runCommand('View: Show Run and Debug');
    }
    await box.waitFor({ timeout: 30000 }).catch(() => {
      throw new Error('no configuration box in the Run and Debug view in 30 s');
    });
    const handle = await box.elementHandle();
    const shows = () => page.waitForFunction(([el, n]) => el.options[el.selectedIndex]?.text.includes(n), [handle, name], { timeout: 5000 })
      .then(() => true, () => false);
    const end = Date.now() + 60000;
    while (!await shows()) {
      if (Date.now() > end) {
        throw new Error(`the Run and Debug view did not offer launch.json's "${name}" in 60 s`);
      }
      // Not read yet, or another configuration chosen: choose it.
      await box.selectOption({ label: name }, { timeout: 5000 }).catch(() => {});
    }
    await before?.();
    await page.locator('[aria-label^="Start Debugging"], [aria-label^="开始调试"]').first().click({ timeout: 30000 }).catch(() => {
      throw new Error('no Start Debugging button in the Run and Debug view in 30 s');
    });
  }

  // viewPane is the pane of a view of the Run and Debug container, by title.
  viewPane(title) {
    return this.page.locator('.pane', { has: this.page.locator('.pane-header', { hasText: title }) });
  }

  // expand expands a view pane (by title) when it is collapsed, and waits
  // until it is expanded.
  async expand(title) {
    const pane = this.viewPane(title);
    const header = pane.locator('.pane-header').first();
    await header.waitFor({ timeout: 15000 }).catch(() => {
      throw new Error(`no view named ${title} in the Run and Debug container`);
    });
    const expanded = pane.locator('.pane-header[aria-expanded="true"]');
    const end = Date.now() + 30000;
    while (!await expanded.waitFor({ timeout: 5000 }).then(() => true, () => false)) {
      if (Date.now() > end) {
        throw new Error(`the ${title} view did not expand`);
      }
      await header.click();
    }
    return pane;
  }

  // Rows of VS Code's lists and trees are virtualised: only the rows in
  // view exist, and a row's element is reused for another item when the
  // list scrolls or refreshes, so a click on a row found a moment ago can
  // land on another item. Rows are therefore reached with the keyboard,
  // which moves one focus through every item whether it is in view or not,
  // and each step waits for the focus to move before reading it.
  //
  // focusRow focuses the first row of the list or tree inside `scope`
  // whose text matches `re`, starting from its first row, and returns its
  // text. `why` says in a failure what the row was needed for.
  async focusRow(scope, re, why, { maxRows = 400 } = {}) {
    const page = this.page;
    const list = scope.locator('.monaco-list').first();
    await list.waitFor({ timeout: 30000 }).catch(() => {
      throw new Error(`${why}: no list in the view`);
    });
    const handle = await list.elementHandle();
    // press sends key to the list and returns the focused row once the
    // focus has left row `prev`, with its index and whether it is the
    // list's last. VS Code may move the keyboard focus elsewhere meanwhile
    // (it opens the stopped frame's source in an editor): a key that went
    // elsewhere is sent again, to the list.
    const press = async (key, prev) => {
      for (let attempt = 0; attempt < 5; attempt++) {
        await list.focus();
        await page.keyboard.press(key);
        const r = await page.waitForFunction(([el, p]) => {
          const row = el.querySelector('.monaco-list-row.focused');
          if (row && Number(row.dataset.index) !== p) {
            return { index: Number(row.dataset.index), last: row.dataset.lastElement === 'true', text: row.innerText };
          }
          return el.contains(el.ownerDocument.activeElement) ? false : { lostFocus: true };
        }, [handle, prev], { timeout: 10000 }).then((h) => h.jsonValue()).catch(() => null);
        if (r && !r.lostFocus) {
          return r;
        }
        if (!r) {
          break;
        }
      }
      return null;
    };
    let prev = -1;
    const seen = [];
    let row = await press('Home', prev);
    for (let n = 0; row && n < maxRows; n++) {
      seen.push(row.text.replace(/\s+/g, ' ').slice(0, 80));
      if (re.test(row.text)) {
        return row.text;
      }
      if (row.last) {
        throw new Error(`${why}: no row matches ${re}; the last of ${seen.length} rows is ${JSON.stringify(seen.at(-1))}`);
      }
      prev = row.index;
      row = await press('ArrowDown', prev);
    }
    if (!row) {
      throw new Error(`${why}: the focus did not move past row ${prev} (rows so far: ${JSON.stringify(seen.slice(-5))})`);
    }
    throw new Error(`${why}: no row matches ${re} in the first ${maxRows} rows`);
  }
}
