// DAP-level tests from outside Go: Microsoft's DebugClient (the harness VS
// Code's own debug adapters are tested with) drives the real `dsecore dap` on
// the field-crash fixture core, over stdio and over TCP.
//
// DSECORE names the binary, DSECORE_FIXTURES the fixture tree
// (`go run ./internal/testsupport/fixture/fixturectl` prints it); `make test` sets both.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { DebugClient } from '@vscode/debugadapter-testsupport';

const bin = resolve(process.env.DSECORE ?? '../bin/dsecore');
const fixtures = process.env.DSECORE_FIXTURES;
let sc; // the field-crash scenario: core, executable, expected.json

before(() => {
  assert.ok(existsSync(bin), `dsecore binary not found at ${bin} (set DSECORE)`);
  assert.ok(fixtures && existsSync(join(fixtures, 'field-crash', 'core')),
    'DSECORE_FIXTURES must name the built fixture tree (make test sets it)');
  const dir = join(fixtures, 'field-crash');
  sc = {
    dir,
    core: join(dir, 'core'),
    exe: join(fixtures, 'bin', 'ceph-dse'),
    expected: JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')),
  };
});

const hex16 = (s) => '0x' + BigInt(s).toString(16).padStart(16, '0');

// session runs the whole sequence a client runs on a core and asserts what a
// person debugging the crash looks at.
async function session(dc) {
  dc.defaultTimeout = 60000;
  const init = await dc.initializeRequest({ adapterID: 'dsecore', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path', supportsProgressReporting: true });
  assert.equal(init.body.supportsConfigurationDoneRequest, true);
  assert.equal(init.body.supportsDisassembleRequest, true);
  assert.equal(init.body.supportsSetVariable ?? false, false);
  assert.deepEqual(init.body.exceptionBreakpointFilters, []);

  const initialized = dc.waitForEvent('initialized');
  const launch = await dc.launchRequest({ coreFile: sc.core, program: sc.exe, logFiles: [sc.dir], showTasks: 'all' });
  assert.equal(launch.success, true);
  await initialized;
  const stopped = dc.waitForEvent('stopped');
  await dc.configurationDoneRequest();
  const ev = (await stopped).body;
  const lwp = sc.expected.crash_lwp;
  assert.equal(ev.reason, 'exception');
  assert.equal(ev.allThreadsStopped, true);
  assert.equal(ev.threadId, lwp);
  assert.equal(ev.description, 'SIGSEGV (SEGV_MAPERR) at 0x0 in dm_hash_node_t::clear()');

  // A core never runs.
  const cont = await dc.continueRequest({ threadId: lwp }).then(() => null, (e) => e);
  assert.match(String(cont?.message), /core/);

  // Threads: every LWP with its Processer name, and every task.
  const threads = (await dc.threadsRequest()).body.threads;
  assert.equal(threads.length, sc.expected.threads.length + sc.expected.tasks.length);
  const crash = threads.find((t) => t.id === lwp);
  assert.equal(crash.name, `LWP ${lwp} Processer_5`);
  const task15 = threads.find((t) => t.name.startsWith('task 15 [block]'));
  assert.ok(task15 && task15.id >= 2 ** 30, `task 15 in ${JSON.stringify(threads.map((t) => t.name))}`);
  // Each task named from what the program knew of it, not from its stack.
  for (const t of sc.expected.tasks) {
    const state = t.running ? 'running' : t.state;
    const want = `task ${t.id} [${state}] Processer ${t.processer}, created in ${t.func}`;
    assert.equal(threads.find((x) => x.id === 2 ** 30 + t.id)?.name, want);
  }

  // The crashing stack, first page: the handler's frames (Ceph's handler
  // re-raises through raise and pthread_kill), the signal frame at k, the
  // inlined list code, clear().
  const all = (await dc.stackTraceRequest({ threadId: lwp, startFrame: 0, levels: 100 })).body.stackFrames;
  const k = all.findIndex((f) => f.name === '<signal handler called>');
  assert.ok(k >= 1, `no signal frame in ${JSON.stringify(all.map((f) => f.name))}`);
  const st = (await dc.stackTraceRequest({ threadId: lwp, startFrame: 0, levels: k + 4 })).body;
  assert.ok(st.totalFrames >= 15, `totalFrames ${st.totalFrames}`);
  assert.equal(st.stackFrames.length, k + 4);
  const fr = st.stackFrames;
  assert.equal(fr[k].name, '<signal handler called>');
  assert.equal(fr[k].presentationHint, 'label');
  assert.equal(fr[k + 1].name, 'boost::intrusive::list_node_traits<void*>::get_next [inlined]');
  const clear = fr[k + 3];
  assert.equal(clear.name, 'dm_hash_node_t::clear');
  assert.equal(clear.line, 42);
  assert.match(clear.source.path, /dcache\/dm\.cc$/);
  assert.equal(clear.instructionPointerReference, sc.expected.fault_ip);
  const rest = (await dc.stackTraceRequest({ threadId: lwp, startFrame: k + 4, levels: 50 })).body.stackFrames;
  assert.deepEqual(rest.slice(0, 2).map((f) => f.name), ['lsm_release_all_csdobj', 'lsm_destroy']);

  // Scopes and variables of clear().
  const scopes = (await dc.scopesRequest({ frameId: clear.id })).body.scopes;
  assert.deepEqual(scopes.map((s) => s.name).sort(), ['Arguments', 'Fault analysis', 'Locals', 'Registers']);
  const ref = (name) => scopes.find((s) => s.name === name).variablesReference;
  const vars = async (r) => Object.fromEntries((await dc.variablesRequest({ variablesReference: r })).body.variables.map((v) => [v.name, v]));
  const args = await vars(ref('Arguments'));
  assert.equal(args.this.value, sc.expected.node);
  assert.equal(args.this.memoryReference, sc.expected.node);
  const node = await vars(args.this.variablesReference);
  assert.equal(node.refcount.value, '2');
  assert.equal(node.objs.value, 'size=0 (size_ says -1)');
  const regs = await vars(ref('Registers'));
  assert.equal(regs.rbx.value, hex16(0));
  assert.equal(regs.rbp.value, hex16(sc.expected.fault_regs.rbp));
  const analysis = await vars(ref('Fault analysis'));
  assert.match(analysis.verdict.value, /concurrent destruction/);

  // Evaluate: a member path, a register, a cast to a program type, a repl command.
  const evaluate = async (expression, context) => (await dc.evaluateRequest({ expression, frameId: clear.id, context })).body;
  assert.equal((await evaluate('this->objs.data_.root_plus_size_.size_', 'watch')).result, '18446744073709551615');
  assert.equal((await evaluate('$rbx', 'repl')).result, '0');
  const obj0 = sc.expected.objs[0];
  const cast = await evaluate(`*(dm_obj_t *)(${obj0.hook} - 0x130)`, 'hover');
  assert.equal(cast.memoryReference, obj0.address);
  assert.ok(cast.variablesReference > 0);
  assert.match((await evaluate('bt', 'repl')).result, /dm_hash_node_t::clear at .*dm\.cc:42/);

  // dsecore's own requests, for the extension's views.
  const tasks = (await dc.customRequest('dsecore/tasks')).body;
  assert.equal(tasks.tasks.length, sc.expected.tasks.length);
  assert.deepEqual(tasks.processers.map((p) => [p.id, p.lwp]), sc.expected.processers.map((p) => [p.id, p.lwp]));
  const t15 = tasks.tasks.find((t) => t.id === 15);
  assert.equal(t15.threadId, task15.id);
  assert.equal(t15.state, 'block');
  assert.equal(t15.processer, 6);
  assert.equal(tasks.processers.find((p) => p.id === 5).runningTask, 16);
  const an = (await dc.customRequest('dsecore/analysis')).body;
  assert.equal(an.crashThreadId, lwp);
  assert.match(an.analysis.verdict, /concurrent destruction/);
  assert.equal(an.analysis.fault.register, 'rbx');
  assert.equal(an.taskThreads['15'], task15.id);
  assert.ok(an.analysis.others.some((o) => o.task === 15));
  assert.equal(an.waits, undefined, 'a crash where nothing waits has no waits');

  // The suspended task that raced on the same node.
  const ts = (await dc.stackTraceRequest({ threadId: task15.id })).body.stackFrames;
  assert.equal(ts[0].name, 'co::Processer::SwapOut');
  assert.ok(ts.some((f) => f.name === 'lsm_release_all_csdobj'), ts.map((f) => f.name).join(', '));

  // Its holder: the analysis names the frame and path; that frame's first
  // scope holds the path, evaluated; focus stops on the thread; frameIndex
  // says where a frame id is.
  const h = an.analysis.memory.holders[0];
  assert.equal(h.task, 15);
  assert.equal(h.expr, 'node');
  assert.equal(h.function, '(anonymous namespace)::release_wait');
  const hf = ts[h.frame];
  assert.equal(hf.name.replace(/ \[inlined\]$/, ''), h.function);
  const hs = (await dc.scopesRequest({ frameId: hf.id })).body.scopes;
  assert.equal(hs[0].name, 'Holds (fault analysis)');
  assert.ok(!hs[0].expensive);
  const held = (await dc.variablesRequest({ variablesReference: hs[0].variablesReference })).body.variables;
  assert.deepEqual(held.map((v) => [v.name, v.value, v.evaluateName]), [['node', sc.expected.node, 'node']]);
  assert.equal((await dc.customRequest('dsecore/frameIndex', { frameId: hf.id })).body.index, h.frame);
  const focused = dc.waitForEvent('stopped');
  await dc.customRequest('dsecore/focus', { threadId: task15.id, description: 'holds the owner' });
  const fe = await focused;
  assert.equal(fe.body.threadId, task15.id);
  assert.ok(!fe.body.preserveFocusHint); // absent: the client moves its focus there
  assert.equal(fe.body.description, 'holds the owner');
  // Frames that hold nothing get no such scope.
  const top = (await dc.scopesRequest({ frameId: ts[0].id })).body.scopes;
  assert.ok(!top.some((x) => x.name === 'Holds (fault analysis)'), JSON.stringify(top.map((x) => x.name)));
}

test('stdio: launch → stopped → threads → stackTrace → scopes → variables → evaluate', async () => {
  const dc = new DebugClient(bin, 'dap', 'dsecore', {}, true);
  await dc.start();
  try {
    await session(dc);
  } finally {
    await dc.stop();
  }
});

test('a hang (task deadlock): dsecore/analysis carries the wait graph, each member\'s task listed as a thread', async () => {
  const dir = join(fixtures, 'task-deadlock');
  const truth = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')).waits;
  const dc = new DebugClient(bin, 'dap', 'dsecore', {}, true);
  await dc.start();
  try {
    dc.defaultTimeout = 60000;
    await dc.initializeRequest({ adapterID: 'dsecore', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
    const initialized = dc.waitForEvent('initialized');
    await dc.launchRequest({ coreFile: join(dir, 'core'), program: join(fixtures, 'bin', 'ceph-dse') });
    await initialized;
    const stopped = dc.waitForEvent('stopped');
    await dc.configurationDoneRequest();
    await stopped;
    const an = (await dc.customRequest('dsecore/analysis')).body;
    const w = an.waits;
    assert.ok(w && w.hang, JSON.stringify(an).slice(0, 500));
    // The graph equals the fixture's truth: the cycle's members, the task
    // behind it, each lock's owner and waiters.
    assert.equal(w.cycles.length, 1);
    assert.deepEqual(w.cycles[0].members.map((m) => m.node).sort(), [...truth.cycles[0]].sort());
    assert.deepEqual(w.cycles[0].behind, truth.behind);
    for (const o of truth.objects) {
      const got = w.objects.find((x) => x.address === o.address);
      assert.ok(got, `no object ${o.address} (${o.expr})`);
      assert.equal(got.expr, o.expr);
      assert.equal(got.owner, o.owner);
      assert.deepEqual([...got.waiters].sort(), [...o.waiters].sort());
    }
    // Each member's task is a DAP thread whose stack reaches the code that
    // waits.
    const { threads } = (await dc.threadsRequest()).body;
    for (const m of w.cycles[0].members) {
      const tid = an.taskThreads[m.node.replace('task:', '')];
      assert.ok(threads.some((t) => t.id === tid), `${m.node}: no thread ${tid}`);
      const frames = (await dc.stackTraceRequest({ threadId: tid })).body.stackFrames;
      assert.equal(frames[m.wait_frame].name.replace(/ \[inlined\]$/, ''), m.wait_function, frames.map((f) => f.name).join(', '));
    }
  } finally {
    await dc.stop();
  }
});

test('tcp: the same session through dsecore dap --listen 127.0.0.1:0', async () => {
  const server = spawn(bin, ['dap', '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    let err = '';
    server.stderr.setEncoding('utf8');
    const port = await new Promise((res, rej) => {
      server.stderr.on('data', (d) => {
        err += d;
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(err);
        if (m) res(Number(m[1]));
      });
      server.on('exit', (code) => rej(new Error(`dsecore dap --listen exited ${code}: ${err}`)));
    });
    const dc = new DebugClient(bin, 'dap', 'dsecore');
    await dc.start(port);
    try {
      await session(dc);
    } finally {
      await dc.stop();
    }
  } finally {
    server.kill();
    await once(server, 'exit').catch(() => {});
  }
});

// The real daemon: Debian's ceph-mon (no DWARF for ceph-mon or
// libceph-common), crashed by fixtures/ceph/corpus.sh in
// DSECORE_CEPH_CORPUS. The session stops on the crash's first meaningful
// frame, and VS Code's rules find it: the first frame whose source is
// available and not deemphasized (where it opens an editor and the
// exception widget) is it, a frame that is not subtle. The frames above it
// are deemphasized, each run with what it is (VS Code's "Show N More:
// <origin>"); the application's frames below it are not.
const cephFocus = {
  abort: { focus: /^ceph::common::CephContext::_do_command$/, above: 'raising the signal',
    stopped: 'SIGABRT raised in ceph::common::CephContext::_do_command()' },
  'kill-segv': { focus: /^AsyncMessenger::wait$/, above: 'the platform\'s libraries', stopped: 'SIGSEGV received in AsyncMessenger::wait()' },
  'null-load': { focus: /^__strlen_sse2$/, stopped: 'SIGSEGV (SEGV_MAPERR) at 0x0 in __strlen_sse2()' },
  'wild-pc': { focus: /^EpollDriver::event_wait \[found by scan\]$/, above: 'no code at the pc', stopped: 'SIGSEGV (SEGV_MAPERR) at 0xdeadbeef' },
};

test('the real ceph-mon (no DWARF): the session stops on the crash\'s first meaningful frame, with its disassembly and registers', async () => {
  const corpus = process.env.DSECORE_CEPH_CORPUS;
  assert.ok(corpus, 'DSECORE_CEPH_CORPUS must name the real-daemon corpus (fixtures/ceph/corpus.sh OUTDIR; make test-ext makes it)');
  for (const [name, want] of Object.entries(cephFocus)) {
    const core = join(corpus, name, 'core');
    assert.ok(existsSync(core), `no ${core} (fixtures/ceph/corpus.sh ${corpus} ${name})`);
    const dc = new DebugClient(bin, 'dap', 'dsecore', {}, true);
    await dc.start();
    try {
      dc.defaultTimeout = 60000;
      await dc.initializeRequest({ adapterID: 'dsecore', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
      const initialized = dc.waitForEvent('initialized');
      await dc.launchRequest({ coreFile: core });
      await initialized;
      const stopped = dc.waitForEvent('stopped');
      await dc.configurationDoneRequest();
      const ev = (await stopped).body;
      assert.equal(ev.description, want.stopped);
      const frames = (await dc.stackTraceRequest({ threadId: ev.threadId, startFrame: 0, levels: 40 })).body.stackFrames;
      const show = () => frames.map((f, i) => `#${i} ${f.name} [${f.presentationHint ?? ''}] ${f.source?.presentationHint ?? ''} ${f.source?.origin ?? ''}`).join('\n');
      // VS Code keeps one source per reference, with the hint and origin
      // of the last frame naming it: frames that share a reference share
      // both, or a run of frames would lose its name.
      const byRef = new Map();
      for (const x of frames.filter((x) => x.source?.sourceReference)) {
        const seen = byRef.get(x.source.sourceReference);
        const mine = `${x.source.presentationHint ?? ''} ${x.source.origin ?? ''}`;
        assert.ok(seen === undefined || seen === mine, `${name}: source ${x.source.sourceReference} is both "${seen}" and "${mine}":\n${show()}`);
        byRef.set(x.source.sourceReference, mine);
      }
      const deem = (f) => f.source?.presentationHint === 'deemphasize';
      const top = frames.findIndex((f) => f.source && !deem(f));
      assert.ok(top >= 0, `${name}: no frame VS Code would open:\n${show()}`);
      const f = frames[top];
      assert.match(f.name, want.focus, `${name}: VS Code would open #${top}:\n${show()}`);
      assert.ok(f.presentationHint !== 'subtle' && f.presentationHint !== 'deemphasize', `${name}: the focus frame is ${f.presentationHint}`);
      assert.ok(f.source.sourceReference > 0, `${name}: the focus frame has no disassembly source: ${JSON.stringify(f.source)}`);
      const sig = frames.findIndex((x) => x.name === '<signal handler called>');
      assert.ok(sig > 0 && sig < top, `${name}: the signal frame is #${sig}:\n${show()}`);
      for (let i = 0; i < top; i++) {
        const x = frames[i];
        if (i === sig || !x.source) {
          continue;
        }
        assert.ok(deem(x) && x.presentationHint === 'subtle', `${name}: #${i} above the focus is not deemphasized:\n${show()}`);
        assert.equal(x.source.origin, i < sig ? 'the fatal-signal handler' : want.above, `${name}: #${i}'s origin:\n${show()}`);
      }
      // Below it, Ceph's own frames are listed, not collapsed.
      if (name === 'abort') {
        const entry = frames.findIndex((x) => x.name === 'AdminSocket::entry');
        assert.ok(entry > top && !deem(frames[entry]), `abort: AdminSocket::entry is collapsed or missing:\n${show()}`);
      }
      // Its editor: the function's disassembly from the core.
      const fn = f.name.replace(/ \[.*\]$/, '');
      const text = (await dc.send('source', { sourceReference: f.source.sourceReference, source: f.source })).body.content;
      assert.ok(text.includes(fn), `${name}: the disassembly source does not name ${fn}:\n${text.slice(0, 400)}`);
      // Variables: without DWARF, the registers first (the scope VS Code
      // expands), the frame's own rip.
      const scopes = (await dc.scopesRequest({ frameId: f.id })).body.scopes;
      assert.equal(scopes[0].name, 'Registers', `${name}: scopes ${scopes.map((s) => s.name)}`);
      const regs = (await dc.variablesRequest({ variablesReference: scopes[0].variablesReference })).body.variables;
      const rip = regs.find((r) => r.name === 'rip');
      assert.ok(rip && /^0x[0-9a-f]{16}$/.test(rip.value), `${name}: rip ${JSON.stringify(rip)}`);
      // Ceph's own code has no DWARF, and says so; glibc's assembly
      // (libc6-dbg's line table, no variables) has none to show.
      const args = (await dc.variablesRequest({ variablesReference: scopes.find((s) => s.name === 'Arguments').variablesReference })).body.variables;
      assert.deepEqual(args.map((v) => [v.name, v.value]), name === 'null-load' ? [] : [['<no variables>', 'no DWARF scope for this frame']]);
      // The Coroutines view's answer says why it is empty.
      const tasks = (await dc.customRequest('dsecore/tasks')).body;
      assert.deepEqual([tasks.processers.length, tasks.tasks.length], [0, 0]);
      assert.match(tasks.noRuntime ?? '', /no module defines or calls a context switch routine .*: no coroutine runtime/);
      // An expression the frame cannot evaluate is an error for where it
      // was typed, not a notification.
      const bad = await new Promise((res) => dc.doSend('evaluate', { expression: 'this', frameId: f.id, context: 'watch' }, res));
      assert.equal(bad.success, false);
      assert.match(bad.message, /no symbol "this"/);
      assert.equal(bad.body?.error?.showUser, false, `${name}: ${JSON.stringify(bad.body)}`);
    } finally {
      await dc.stop();
    }
  }
});

// (A launch without the token is refused and its connection ended:
// TestDAPAuthToken, in Go.)
test('tcp beyond loopback: a launch carries the --auth-token-file token', async () => {
  const token = '5b0e'.repeat(16);
  const tokenFile = join(mkdtempSync(join(tmpdir(), 'dsecore-token-')), 'token');
  writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
  const server = spawn(bin, ['dap', '--listen', '0.0.0.0:0', '--auth-token-file', tokenFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    let err = '';
    server.stderr.setEncoding('utf8');
    const port = await new Promise((res, rej) => {
      server.stderr.on('data', (d) => {
        err += d;
        const m = /listening on \S*:(\d+)/.exec(err);
        if (m) res(Number(m[1]));
      });
      server.on('exit', (code) => rej(new Error(`dsecore dap --listen exited ${code}: ${err}`)));
    });
    const dc = new DebugClient(bin, 'dap', 'dsecore');
    dc.defaultTimeout = 60000;
    await dc.start(port);
    try {
      await dc.initializeRequest({ adapterID: 'dsecore' });
      const initialized = dc.waitForEvent('initialized');
      const launch = await dc.launchRequest({ coreFile: sc.core, program: sc.exe, authToken: token });
      assert.equal(launch.success, true);
      await initialized;
      const stopped = dc.waitForEvent('stopped');
      await dc.configurationDoneRequest();
      assert.equal((await stopped).body.threadId, sc.expected.crash_lwp);
    } finally {
      await dc.stop();
    }
  } finally {
    server.kill();
    await once(server, 'exit').catch(() => {});
  }
});
