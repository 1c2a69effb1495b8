// End to end in a real VS Code: code-server (VS Code's workbench served to a
// browser) in headless Chromium, driven by playwright-core. The freshly
// packaged .vsix is installed, a workspace whose launch.json names the
// field-crash fixture core is opened, Start Debugging starts the session, and
// the test reads what a person would see: the Call Stack paused on the exception in
// dm_hash_node_t::clear, the Registers scope with the faulting register, the
// Fault Analysis and Coroutines views, a holder of the crash's object
// selected from the Fault Analysis view (its frame in the Call Stack, its
// path in Variables). Then a real daemon's core: Debian's ceph-mon (no DWARF)
// aborted through its admin socket, opened after the fixture's session
// ended: the session stops on the frame that called abort, its disassembly
// open with the exception widget, Registers in Variables, the Coroutines
// view saying why it is empty, nothing of the earlier session left over.
// Screenshots go to DSECORE_ARTIFACTS.
//
// DSECORE_CODE_SERVER: a code-server install (scripts/install-code-server.sh);
// DSECORE_FIXTURES: the fixture tree; DSECORE_VSIX: the package to install;
// DSECORE_CEPH_CORPUS: the real-daemon corpus (fixtures/ceph/corpus.sh) with
// its abort scenario.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Workbench, artifacts } from './workbench.mjs';

const fixtures = process.env.DSECORE_FIXTURES;
const corpus = process.env.DSECORE_CEPH_CORPUS;

let wb;
let page;
let expected;
let failed = false;
let shotN = 0;
// Start Debugging to the exception widget, per core (printed, never asserted).
const openTimes = {};

async function shot(name) {
  failed ||= name.startsWith('failed-');
  mkdirSync(artifacts, { recursive: true });
  const p = join(artifacts, `vscode-${String(++shotN).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: p });
  return p;
}

before(async () => {
  assert.ok(fixtures && existsSync(join(fixtures, 'field-crash', 'core')), 'DSECORE_FIXTURES must name the fixture tree');
  expected = JSON.parse(readFileSync(join(fixtures, 'field-crash', 'expected.json'), 'utf8'));
  assert.ok(existsSync(join(fixtures, 'task-deadlock', 'core')), 'the fixture tree has no task-deadlock core');
  assert.ok(corpus && existsSync(join(corpus, 'abort', 'core')),
    'DSECORE_CEPH_CORPUS must name a real-daemon corpus with its abort scenario (fixtures/ceph/corpus.sh OUTDIR abort; make test-ext makes it)');
  try {
    // The package installed the way a user does, a workspace whose
    // launch.json names the cores.
    wb = Workbench.prepare('dsecore-e2e-', [{
      type: 'dsecore', request: 'launch', name: 'ceph-dse field crash',
      coreFile: join(fixtures, 'field-crash', 'core'),
      program: join(fixtures, 'bin', 'ceph-dse'),
      logFiles: [join(fixtures, 'field-crash')],
    }, {
      type: 'dsecore', request: 'launch', name: 'core with a missing library',
      coreFile: join(fixtures, 'missing-lib', 'core'),
    }, {
      // A hang (issue 27): two coroutine tasks took two co_mutexes in
      // opposite orders, a third waits behind them; an operator killed it.
      type: 'dsecore', request: 'launch', name: 'ceph-dse hang: task deadlock',
      coreFile: join(fixtures, 'task-deadlock', 'core'),
      program: join(fixtures, 'bin', 'ceph-dse'),
    }, {
      // As a user opens a real daemon's core: the executable found from
      // the core (/usr/bin/ceph-mon).
      type: 'dsecore', request: 'launch', name: 'ceph-mon abort (real daemon)',
      coreFile: join(corpus, 'abort', 'core'),
    }]);
    writeFileSync(join(wb.ws, 'README.txt'), 'ceph-dse field crash\n');
    await wb.open();
    page = wb.page;
  } catch (e) {
    failed = true;
    throw e;
  }
});

after(async () => {
  try {
    await wb?.close();
  } finally {
    if (failed && wb?.log) {
      mkdirSync(artifacts, { recursive: true });
      writeFileSync(join(artifacts, 'vscode-code-server.log'), wb.log);
    }
    if (wb?.work && !failed) {
      rmSync(wb.work, { recursive: true, force: true, maxRetries: 5 });
    }
  }
});

const runCommand = (title) => wb.runCommand(title);
const focusRow = (scope, re, why, opts) => wb.focusRow(scope, re, why, opts);
const viewPane = (title) => wb.viewPane(title);
const callStack = () => page.locator('.debug-call-stack');
const variablesView = () => page.locator('.debug-variables');

// selectFrame opens the Call Stack's frame row matching `re` (Enter on the
// focused row, as a keyboard user does) and confirms the selection: the
// selected row is that frame and `confirm` (a locator of the state the
// frame shows, e.g. a variable of its scopes) is there. A refresh of the
// view between the focus and the Enter is retried, at most three times.
async function selectFrame(re, confirm, why) {
  let last;
  for (let attempt = 1; attempt <= 3; attempt++) {
    await focusRow(callStack(), re, why);
    await page.keyboard.press('Enter');
    try {
      await callStack().locator('.monaco-list-row.selected', { hasText: re }).first().waitFor({ timeout: 15000 });
      await confirm.waitFor({ timeout: 30000 });
      return;
    } catch (e) {
      last = e;
    }
  }
  throw new Error(`${why}: the frame ${re} was not selected, or its view never showed the expected state: ${last?.message}`);
}

// exceptionWidget waits for VS Code's exception widget (the peek under the
// stopped line) and returns its text.
async function exceptionWidget(re) {
  const w = page.locator('.exception-widget', { hasText: re }).first();
  await w.waitFor({ timeout: 60000 }).catch(() => {
    throw new Error(`no exception widget saying ${re}`);
  });
  return w.innerText();
}

test('Start Debugging on a core: the call stack is paused on the exception in dm_hash_node_t::clear', async () => {
  // The Run and Debug view, opened from the palette (a shortcut pressed
  // before the workbench takes keys would be lost), offers the
  // configuration once launch.json is read; the time to the exception
  // widget counts from the click.
  let t0;
  try {
    await wb.startDebugging('ceph-dse field crash', {
      before: async () => {
        await shot('run-and-debug');
        t0 = Date.now();
      },
    });
    // The session stops once: the crashed thread's row shows the stopped
    // event's description (its frames may lie below the pane's fold: the
    // keyboard reaches them below).
    await callStack().locator('.monaco-list-row', { hasText: /SIGSEGV \(SEGV_MAPERR\)/i }).first()
      .waitFor({ timeout: 90000 }).catch(() => {
        throw new Error('the session did not stop with the SIGSEGV thread on the call stack in 90 s');
      });
    // VS Code then opens the source of the first frame that is not
    // deemphasized: the fatal-signal handler's frames are, so it is the
    // faulting frame (boost's get_next, inlined in clear()), whose editor
    // takes the keyboard focus.
    await page.locator('.tabs-container .tab', { hasText: 'list_node.hpp' }).first().waitFor({ timeout: 30000 }).catch(() => {
      throw new Error('VS Code opened no editor on the faulting frame\'s source (list_node.hpp)');
    });
    await exceptionWidget(/SIGSEGV/);
    openTimes['field-crash fixture'] = Date.now() - t0;
    await shot('call-stack');
    // The crashing thread's header: VS Code shows the stopped event's
    // description there (it would say "Paused on exception" without one).
    const header = await focusRow(callStack(), new RegExp(`LWP ${expected.crash_lwp} Processer_5`), 'the crashed thread\'s row');
    assert.match(header, /SIGSEGV \(SEGV_MAPERR\) at 0x0 in dm_hash_node_t::clear\(\)/i);
    await focusRow(callStack(), /<signal handler called>|signal handler/, 'the signal frame\'s row');
    await focusRow(callStack(), /dm_hash_node_t::clear/, 'clear()\'s frame row');
    // Other threads follow, each named after its Processer.
    await focusRow(callStack(), /LWP \d+ Processer_[0-46-7]\b/, 'another Processer thread\'s row');
  } catch (e) {
    await shot('failed-call-stack');
    throw e;
  }
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
  const vars = variablesView();
  // clear()'s scopes are the ones shown once `this` is the node.
  const thisRow = vars.locator('.monaco-list-row', { hasText: new RegExp(`this\\s*=\\s*${expected.node}`) }).first();
  await selectFrame(/dm_hash_node_t::clear/, thisRow, 'selecting clear()\'s frame');
  for (const scope of ['Arguments', 'Locals', 'Registers', 'Fault analysis']) {
    await focusRow(vars, new RegExp(`^\\s*${scope}\\s*$`), `the ${scope} scope of clear()`);
  }
  // The Registers scope row is focused last but one; expand it if needed.
  await focusRow(vars, /^\s*Registers\s*$/, 'the Registers scope of clear()');
  const regs = vars.locator('.monaco-list-row.focused');
  if ((await regs.getAttribute('aria-expanded')) !== 'true') {
    await page.keyboard.press('ArrowRight');
    await vars.locator('.monaco-list-row.focused[aria-expanded="true"]', { hasText: 'Registers' }).waitFor({ timeout: 15000 }).catch(() => {
      throw new Error('the Registers scope did not expand');
    });
  }
  const rbx = await focusRow(vars, /^\s*rbx\b/, 'clear()\'s rbx');
  const rbp = await focusRow(vars, /^\s*rbp\b/, 'clear()\'s rbp');
  await shot('registers');
  assert.match(rbx, /rbx\s*[:=]?\s*0x0000000000000000/);
  assert.match(rbp, new RegExp(BigInt(expected.fault_regs.rbp).toString(16).padStart(16, '0')));
  // A watch on `this`, as a person looking at clear() adds one: it stays
  // for the next session (the real daemon's, below).
  await addWatch('this', new RegExp(`this\\s*[:=]?\\s*.*${expected.node}`));
}

const watchView = () => page.locator('.debug-watch');

// addWatch adds an expression to the Watch view (its title's "Add
// Expression" action) and waits for its row to show `shows`.
async function addWatch(expr, shows) {
  const pane = viewPane('Watch');
  const header = pane.locator('.pane-header').first();
  if ((await header.getAttribute('aria-expanded')) !== 'true') {
    await header.click();
    await pane.locator('.pane-header[aria-expanded="true"]').waitFor({ timeout: 15000 });
  }
  await header.hover();
  await header.locator('.action-label[aria-label="Add Expression"]').click();
  const input = watchView().locator('input').first();
  await input.waitFor({ timeout: 15000 }).catch(() => {
    throw new Error('"Add Expression" opened no input in the Watch view');
  });
  await input.fill(expr);
  await page.keyboard.press('Enter');
  await watchView().locator('.monaco-list-row', { hasText: shows }).first().waitFor({ timeout: 30000 }).catch(() => {
    throw new Error(`the watch ${expr} never showed ${shows}`);
  });
}

test('the Fault Analysis view shows the verdict; Coroutines lists the Processers', async () => {
  try {
    await faultAnalysisAndCoroutines();
  } catch (e) {
    await shot('failed-fault-analysis');
    throw e;
  }
});

async function faultAnalysisAndCoroutines() {
  await runCommand('dsecore: Show Fault Analysis');
  const pane = viewPane('Fault Analysis');
  // The view fills when the adapter's analysis arrives.
  await pane.locator('.monaco-list-row', { hasText: 'Verdict (high)' }).first().waitFor({ timeout: 30000 }).catch(() => {
    throw new Error('the Fault Analysis view showed no verdict in 30 s');
  });
  const verdict = await focusRow(pane, /^\s*Verdict \(high\)/, 'the verdict row');
  await shot('fault-analysis');
  assert.match(verdict, /NULL pointer read in boost::intrusive::list_node_traits<void\*>::get_next/);
  assert.match(await focusRow(pane, /Faulting instruction:/, 'the faulting instruction row'), /Faulting instruction: mov {4}\(%rbx\),%rbx/);
  assert.match(await focusRow(pane, /Bad register:/, 'the bad register row'), /Bad register: %rbx = 0x0/);
  await focusRow(pane, /Others on the same object/, 'the other holders of the object');
  await focusRow(pane, /task 15 \(Processer 6, block\)/, 'task 15 among the holders');
  await shot('fault-analysis-others');

  const co = viewPane('Coroutines');
  const coHeader = co.locator('.pane-header').first();
  if ((await coHeader.getAttribute('aria-expanded')) !== 'true') {
    await coHeader.click();
    await co.locator('.pane-header[aria-expanded="true"]').waitFor({ timeout: 15000 }).catch(() => {
      throw new Error('the Coroutines view did not expand');
    });
  }
  await co.locator('.monaco-list-row', { hasText: 'Processer 0' }).first().waitFor({ timeout: 30000 }).catch(() => {
    throw new Error('the Coroutines view listed no Processer in 30 s');
  });
  assert.match(await focusRow(co, /Processer 0(?!\d)/, 'Processer 0\'s row'), /Processer 0\s*LWP \d+ Processer_0/);
  await shot('coroutines');
  // A task's row shows its stack (a quick pick of its frames): Enter on
  // the focused row runs its command.
  await focusRow(co, /task 1 \[\w+\]/, 'task 1\'s row');
  await page.keyboard.press('Enter');
  const pick = page.locator('.quick-input-widget');
  await pick.locator('.quick-input-title', { hasText: 'Stack of task 1' }).waitFor({ timeout: 30000 }).catch(() => {
    throw new Error('Enter on task 1\'s row opened no "Stack of task 1" pick');
  });
  await pick.locator('.monaco-list-row', { hasText: 'co::Processer::SwapOut' }).first().waitFor({ timeout: 30000 }).catch(() => {
    throw new Error('the stack of task 1 has no co::Processer::SwapOut frame');
  });
  const frames = await pick.innerText();
  await shot('task-stack');
  assert.match(frames, /Stack of task 1\b/);
  assert.match(frames, /sleeper_body/);
  // Choosing a frame there does what a click in the Call Stack does: the
  // frame is selected in task 1's stack and its source opens.
  await pick.locator('.quick-input-box input.input').fill('sleeper_body');
  await pick.locator('.monaco-list-row.focused', { hasText: 'sleeper_body' }).waitFor({ timeout: 15000 }).catch(() => {
    throw new Error('the stack pick did not focus sleeper_body\'s frame');
  });
  await page.keyboard.press('Enter');
  await pick.waitFor({ state: 'hidden', timeout: 15000 });
  await callStack().locator('.monaco-list-row.selected', { hasText: 'sleeper_body' }).first().waitFor({ timeout: 60000 }).catch(() => {
    throw new Error('choosing sleeper_body in the stack of task 1 selected no such frame in the Call Stack');
  });
  await page.locator('.tabs-container .tab.active', { hasText: 'ceph-dse.cc' }).waitFor({ timeout: 30000 }).catch(() => {
    throw new Error('choosing sleeper_body in the stack of task 1 opened no ceph-dse.cc editor');
  });
  await shot('task-stack-frame');
  assert.match(await threadOfSelectedFrame(), /task 1\b/);
}

// threadOfSelectedFrame is the text of the Call Stack's thread row above
// its selected frame (the nearest thread row).
function threadOfSelectedFrame() {
  return callStack().locator('.monaco-list').first().evaluate((el) => {
    const rows = [...el.querySelectorAll('.monaco-list-row')].sort((a, b) => Number(a.dataset.index) - Number(b.dataset.index));
    const i = rows.findIndex((r) => r.classList.contains('selected'));
    for (let j = i - 1; j >= 0; j--) {
      if (rows[j].querySelector('.thread')) {
        return rows[j].innerText;
      }
    }
    return '';
  });
}

test('a holder in the Fault Analysis view: Enter selects its frame in the task\'s stack and Variables opens on its path', async () => {
  try {
    await holderPath();
  } catch (e) {
    await shot('failed-holder');
    throw e;
  }
});

async function holderPath() {
  const pane = viewPane('Fault Analysis');
  // The strongest holder: task 15 (engine 5's release, suspended) holds the
  // node as release_wait's parameter `node`.
  const row = await focusRow(pane, /task 15 \(Processer 6, block\): node\b/, 'task 15 among the Holders');
  assert.match(row, /#3 \(anonymous namespace\)::release_wait \(node: dm_hash_node_t \*\), points-to owner/);
  await page.keyboard.press('Enter');
  // The Call Stack selects release_wait's frame in task 15's stack …
  await callStack().locator('.monaco-list-row.selected', { hasText: 'release_wait' }).first().waitFor({ timeout: 60000 }).catch(() => {
    throw new Error('Enter on the holder selected no release_wait frame in the Call Stack');
  });
  // … and Variables opens on the path: the holder scope, expanded, with
  // `node` and its value, the fixture's node.
  const vars = variablesView();
  await vars.locator('.monaco-list-row[aria-expanded="true"]', { hasText: 'Holds (fault analysis)' }).first().waitFor({ timeout: 30000 }).catch(() => {
    throw new Error('the Variables view did not open on the "Holds (fault analysis)" scope of the holder\'s frame');
  });
  const node = vars.locator('.monaco-list-row', { hasText: new RegExp(`^\\s*node\\s*=\\s*${expected.node}\\b`) }).first();
  await node.waitFor({ timeout: 30000 }).catch(() => {
    throw new Error(`the holder's path shows no node = ${expected.node} in Variables`);
  });
  await shot('holder-frame');
  const selected = await callStack().locator('.monaco-list-row.selected').first().innerText();
  assert.match(selected, /release_wait/);
  // The selected frame is in task 15's stack: its thread row is the
  // nearest thread row above it.
  assert.match(await threadOfSelectedFrame(), /task 15\b/);
}

test('a missing library becomes a notification with an action to fix the path', async () => {
  await page.keyboard.press('Escape');
  await wb.startDebugging('core with a missing library');
  const toast = page.locator('.notifications-toasts .notification-toast', {
    hasText: 'no local file found', has: page.locator('.monaco-button', { hasText: 'Choose Library Folder' }),
  }).first();
  await toast.waitFor({ timeout: 60000 }).catch(async (e) => {
    await shot('failed-missing-library');
    throw e;
  });
  await shot('missing-library');
  assert.match(await toast.innerText(), /dsecore: .*bin-gone\/libdcache\.so: no local file found/);
  // The session itself still opens the core, with what it has: its
  // session row joins the Call Stack (below the first session's rows).
  // VS Code reveals the new session; where it does not, the keyboard
  // reaches its row.
  await callStack().locator('.monaco-list-row', { hasText: 'core with a missing library' }).first().waitFor({ state: 'attached', timeout: 15000 })
    .catch(() => focusRow(callStack(), /core with a missing library/, 'the second session\'s row'));
});

// stopAllSessions stops the running sessions one by one (the debug
// toolbar's Stop stops the focused one), each time waiting until it is
// gone: the debug toolbar hidden, or one session row fewer in the Call
// Stack.
async function stopAllSessions() {
  const toolbar = page.locator('.debug-toolbar');
  for (let n = 0; n < 4 && await toolbar.isVisible(); n++) {
    const before = await callStack().locator('.monaco-list-row .session').count();
    const workbench = await page.locator('.monaco-workbench').first().elementHandle();
    await toolbar.locator('.action-label.codicon-debug-stop').click();
    await page.waitForFunction(([wb, rows]) => {
      const tb = wb.querySelector('.debug-toolbar');
      if (!tb || wb.ownerDocument.defaultView.getComputedStyle(tb).display === 'none') {
        return true;
      }
      return wb.querySelectorAll('.debug-call-stack .monaco-list-row .session').length !== rows;
    }, [workbench, before], { timeout: 30000 }).catch(() => {
      throw new Error('Debug: Stop did not end a session in 30 s');
    });
  }
  await toolbar.waitFor({ state: 'hidden', timeout: 30000 }).catch(() => {
    throw new Error('the debug sessions did not all end');
  });
}

test('a real daemon\'s core (ceph-mon, no DWARF), after the fixture\'s session: stopped on the frame that called abort, its disassembly, the exception, Registers, nothing of the earlier session', async () => {
  try {
    await realDaemon();
  } catch (e) {
    await shot('failed-real-daemon');
    throw e;
  }
});

async function realDaemon() {
  await page.keyboard.press('Escape');
  await stopAllSessions();
  const t0 = Date.now();
  await wb.startDebugging('ceph-mon abort (real daemon)');
  // The crashing thread's row says the signal; VS Code opens the frame
  // that called abort (Ceph's CephContext::_do_command, past the handler,
  // libc's raise and abort, and ceph::__ceph_abort): its disassembly, in
  // the active editor, with the exception widget.
  await callStack().locator('.monaco-list-row', { hasText: /SIGABRT/ }).first().waitFor({ timeout: 90000 }).catch(() => {
    throw new Error('the session did not stop with the SIGABRT thread on the call stack in 90 s');
  });
  await page.locator('.tabs-container .tab.active', { hasText: 'CephContext::_do_command (disassembly)' }).waitFor({ timeout: 60000 }).catch(() => {
    throw new Error('VS Code opened no editor on the disassembly of CephContext::_do_command');
  });
  const widget = await exceptionWidget(/SIGABRT/);
  openTimes['ceph-mon abort (real daemon)'] = Date.now() - t0;
  console.log(`Start Debugging to the exception widget: ${Object.entries(openTimes).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(', ')}`);
  await shot('ceph-mon-stopped');
  assert.match(widget, /raised by the thread itself \(abort\)/);
  assert.match(await focusRow(callStack(), /SIGABRT/, 'the crashing thread\'s row'), /SIGABRT raised in ceph::common::CephContext::_do_command\(\)/i);
  await callStack().locator('.monaco-list-row.selected', { hasText: 'CephContext::_do_command' }).first().waitFor({ timeout: 30000 }).catch(() => {
    throw new Error('the Call Stack does not select CephContext::_do_command');
  });
  // The editor holds the function's disassembly from the core, revealed
  // at the stopped line: the call to ceph::__ceph_abort. (The listing's
  // header line is in view only until VS Code has scrolled to that line,
  // so it is not what is checked: the revealed line is what is certain.)
  const shown = await page.waitForFunction(() => {
    const ed = globalThis.document.querySelector('.editor-instance .view-lines');
    const text = ed ? ed.innerText.replace(/\u00a0/g, ' ') : '';
    return /^\s*7f[0-9a-f]{10}:\s+(?:[0-9a-f]{2} )+\s*call\s+7f[0-9a-f]+ <ceph::__ceph_abort\(/m.test(text) ? text : false;
  }, null, { timeout: 30000 }).then((h) => h.jsonValue()).catch(async () => {
    throw new Error(`the disassembly editor does not show the call to ceph::__ceph_abort: ${await page.locator('.editor-instance .view-lines').first().innerText()}`);
  });
  assert.match(shown, /<ceph::common::CephContext::_do_command\(/);
  // The earlier session's editors are closed, not left as if current.
  for (const name of ['list_node.hpp', 'dm.cc', 'ceph-dse.cc']) {
    await page.locator('.tabs-container .tab', { hasText: name }).first().waitFor({ state: 'detached', timeout: 30000 }).catch(() => {
      throw new Error(`the earlier session's ${name} is still open`);
    });
  }
  // The frames above it are there, collapsed by what they are.
  await focusRow(callStack(), /Show \d+ More: the fatal-signal handler/, 'the handler\'s collapsed frames');
  await focusRow(callStack(), /Show \d+ More: raising the signal/, 'abort\'s collapsed frames');
  // The crashing thread by its LWP, and by its name when the adapter names
  // it: Ceph's own, from the handler's message (the kernel's, before the
  // crash, in threads.txt).
  const crashRow = await focusRow(callStack(), /LWP \d+.*SIGABRT/s, 'the crashing thread\'s row');
  const lwp = /LWP (\d+)/.exec(crashRow)[1];
  const comm = Object.fromEntries(readFileSync(join(corpus, 'abort', 'threads.txt'), 'utf8').trim().split('\n').map((l) => l.split(' ')));
  const named = new RegExp(`LWP ${lwp}[ \\t]+(\\S+)`).exec(crashRow.split('\n')[0]);
  if (named) {
    assert.equal(named[1], comm[lwp], `the crashing thread's name: ${crashRow}`);
  }
  // Variables: Registers first (no DWARF), expanded, the frame's rip.
  const vars = variablesView();
  await vars.locator('.monaco-list-row[aria-expanded="true"]', { hasText: 'Registers' }).first().waitFor({ timeout: 30000 }).catch(() => {
    throw new Error('Variables does not open on the Registers of CephContext::_do_command');
  });
  assert.match(await focusRow(vars, /\S/, 'the first row of Variables'), /^\s*Registers\s*$/);
  assert.match(await focusRow(vars, /^\s*rip\b/, 'the frame\'s rip'), /rip\s*[:=]?\s*0x00007f[0-9a-f]{10}/);
  await shot('ceph-mon-registers');
  // The earlier session's watch is evaluated here too: its error is in
  // the Watch view, not a notification.
  await watchView().locator('.monaco-list-row', { hasText: /no symbol "this"/ }).first().waitFor({ timeout: 30000 }).catch(() => {
    throw new Error('the watch on this shows no error in the real daemon\'s session');
  });
  assert.equal(await page.locator('.notifications-toasts .notification-toast', { hasText: 'no symbol' }).count(), 0,
    'an evaluation error became a notification');
  // The Coroutines view is empty and says why.
  const co = viewPane('Coroutines');
  await co.getByText(/No coroutine tasks: no module defines or calls a context switch routine/).first().waitFor({ timeout: 60000 }).catch(() => {
    throw new Error('the Coroutines view does not say why it is empty');
  });
  await shot('ceph-mon-coroutines');
  // The Fault Analysis: a sent signal has no faulting instruction.
  const fa = viewPane('Fault Analysis');
  await fa.locator('.monaco-list-row', { hasText: /^Verdict \(/ }).first().waitFor({ timeout: 60000 }).catch(() => {
    throw new Error('the Fault Analysis view shows no verdict for the real daemon');
  });
  assert.match(await focusRow(fa, /Signal sent/, 'the sent signal\'s row'), /Signal sent, no faulting instruction: at 0x/);
  assert.equal(await fa.locator('.monaco-list-row', { hasText: /^Faulting instruction/ }).count(), 0, 'a "Faulting instruction" for a sent signal');
}

test('a hang (task deadlock): the Fault Analysis view says who waits for whom; Enter on a member shows its stack', async () => {
  try {
    await hang();
  } catch (e) {
    await shot('failed-hang');
    throw e;
  }
});

async function hang() {
  // The truth the fixture wrote before it was killed: the two tasks of
  // the cycle, the one behind it, the two locks.
  const truth = JSON.parse(readFileSync(join(fixtures, 'task-deadlock', 'expected.json'), 'utf8')).waits;
  const [a, b] = truth.cycles[0].map((id) => Number(id.replace('task:', '')));
  const behind = Number(truth.behind[0].replace('task:', ''));
  const lock = (id) => truth.objects.find((o) => o.owner === id).expr;
  await page.keyboard.press('Escape');
  await stopAllSessions();
  await wb.startDebugging('ceph-dse hang: task deadlock');
  await callStack().locator('.monaco-list-row', { hasText: /SIGABRT/ }).first().waitFor({ timeout: 90000 }).catch(() => {
    throw new Error('the hang core\'s session did not stop with the SIGABRT thread on the call stack in 90 s');
  });
  // The stop opens the waiting code with the exception widget (and takes
  // the keyboard focus): wait for it before anything is typed.
  assert.match(await exceptionWidget(/SIGABRT/), /Deadlock of 2/);
  const fa = viewPane('Fault Analysis');
  if (!(await fa.isVisible())) {
    await runCommand('dsecore: Show Fault Analysis');
  }
  await fa.locator('.monaco-list-row', { hasText: /^Waits: / }).first().waitFor({ timeout: 60000 }).catch(() => {
    throw new Error('the Fault Analysis view shows no Waits for the hang core');
  });
  assert.match(await focusRow(fa, /^\s*Verdict \(/, 'the hang\'s verdict'), /deadlock/i);
  assert.match(await focusRow(fa, /^\s*Waits: /, 'the Waits row'),
    new RegExp(`Waits: ${truth.nodes.length} of \\d+ threads and \\d+ tasks waiting on ${truth.objects.length} objects; 1 deadlock\\(s\\), 0 chain\\(s\\)`));
  const cycle = await focusRow(fa, /Deadlock 1: /, 'the deadlock\'s row');
  assert.match(cycle, new RegExp(`task ${a}\\b.*⇄.*task ${b}\\b`));
  assert.match(await focusRow(fa, new RegExp(`behind it: task ${behind}\\b`), 'the task behind the cycle'), new RegExp(`task ${behind}\\b`));
  await shot('hang-waits');
  // A member says what it holds and waits for; Enter shows its stack.
  const member = await focusRow(fa, new RegExp(`^\\s*task ${a}\\b.*: holds `), `task ${a}'s member row`);
  assert.ok(member.includes(`holds ${lock(`task:${a}`)}, waits ${lock(`task:${b}`)}`), member);
  await page.keyboard.press('Enter');
  const pick = page.locator('.quick-input-widget');
  await pick.locator('.quick-input-title', { hasText: `Stack of task ${a}` }).waitFor({ timeout: 30000 }).catch(() => {
    throw new Error(`Enter on task ${a}'s member row opened no "Stack of task ${a}" pick`);
  });
  await pick.locator('.quick-input-box input.input').fill('journal_swap');
  await pick.locator('.monaco-list-row.focused', { hasText: 'journal_swap' }).waitFor({ timeout: 15000 }).catch(() => {
    throw new Error(`the stack of task ${a} has no journal_swap frame`);
  });
  await page.keyboard.press('Enter');
  await pick.waitFor({ state: 'hidden', timeout: 15000 });
  await callStack().locator('.monaco-list-row.selected', { hasText: 'journal_swap' }).first().waitFor({ timeout: 60000 }).catch(() => {
    throw new Error(`choosing journal_swap in the stack of task ${a} selected no such frame in the Call Stack`);
  });
  assert.match(await threadOfSelectedFrame(), new RegExp(`task ${a}\\b`));
  await shot('hang-member-stack');
}
