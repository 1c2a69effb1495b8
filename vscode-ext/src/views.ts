// The Run and Debug container's dsecore views: Fault Analysis (the verdict
// and its evidence, and who waits for whom, from the adapter's
// dsecore/analysis request) and
// Coroutines (Processers and their tasks, from dsecore/tasks).
import * as vscode from 'vscode';
import { DapAnalysis, DapTasks, LocalizedWaits, ReportAnalysisHolder, WaitsMember, WaitsResult } from './documents';

const t = vscode.l10n.t;

// The documents' types (DapAnalysis, DapTasks, …) are generated from the
// Go side's JSON Schemas (src/documents.ts, npm run gen-types): a field the
// views read that the adapter does not send fails the compile.

// list is a document's list, [] for the null a nil Go slice is sent as.
function list<T>(x: T[] | null | undefined): T[] {
  return x ?? [];
}

// confidence is a verdict's confidence (high, medium, low) in VS Code's
// display language.
function confidence(c: string): string {
  switch (c) {
    case 'high': return t('high');
    case 'medium': return t('medium');
    case 'low': return t('low');
  }
  return c;
}

// role is an object's role in the analysis (owner, list header, …) in VS
// Code's display language; a role the bundle does not know is as sent.
function role(r: string): string {
  switch (r) {
    case 'owner': return t('owner');
    case 'list header': return t('list header');
    case 'hook offset': return t('hook offset');
  }
  return r;
}

// chunkState is a heap chunk's state (analysis.memory.heap[].state) in
// the display language.
function chunkState(s: string): string {
  switch (s) {
    case 'in-use': return t('in-use');
    case 'free': return t('free');
    case 'top': return t('top chunk');
    case 'mmapped': return t('mmapped');
    case 'not-heap': return t('not in a heap');
    case 'corrupt': return t('corrupt');
    case 'unknown': return t('unknown');
  }
  return s;
}

class Item extends vscode.TreeItem {
  constructor(label: string, public readonly kids: Item[] = [], opts: Partial<vscode.TreeItem> = {}) {
    super(label, kids.length > 0 ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None);
    Object.assign(this, opts);
  }
}

function collapsed(i: Item): Item {
  i.collapsibleState = i.kids.length > 0 ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None;
  return i;
}

function showThread(threadId: number, title: string): vscode.Command {
  return { command: 'dsecore.showThread', title: t('Show Stack'), arguments: [threadId, title] };
}

// showHolder selects a holder's frame (its thread or task) in the Call
// Stack; its Variables then open on the path it holds the object by.
function showHolder(threadId: number, h: ReportAnalysisHolder): vscode.Command {
  return { command: 'dsecore.showHolder', title: t('Select the Holder\'s Frame'), arguments: [threadId, h.frame, `${h.who}: ${h.expr}`] };
}

function logLine(line: string, files: string[]): Item {
  // "ceph-dse.engine.64.4.log: 2026-… text": open the file at that line.
  const m = /^([^:]+): (.*)$/.exec(line);
  const item = new Item(line, [], { tooltip: line, iconPath: new vscode.ThemeIcon('output') });
  if (m) {
    const file = files.find((f) => f.endsWith('/' + m[1]) || f === m[1]);
    if (file) {
      item.command = { command: 'dsecore.openLogLine', title: t('Open Log Line'), arguments: [file, m[2]] };
    }
  }
  return item;
}

// A view that is empty says why, in the view (TreeView.message): not
// only in the debug console.
abstract class MessageView {
  private tree: vscode.TreeView<Item> | undefined;
  private text: string | undefined;

  attach(tree: vscode.TreeView<Item>): void {
    this.tree = tree;
    tree.message = this.text;
  }

  /** say sets the view's message (undefined: none). */
  say(text: string | undefined): void {
    this.text = text;
    if (this.tree) {
      this.tree.message = text;
    }
  }
}

export class AnalysisView extends MessageView implements vscode.TreeDataProvider<Item> {
  private emitter = new vscode.EventEmitter<Item | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private roots: Item[] = [];
  body: DapAnalysis | undefined;

  /** set shows an analysis; without one, the view says `why` is empty. */
  set(body: DapAnalysis | undefined, why?: string): void {
    this.body = body;
    this.roots = body ? this.build(body) : [];
    this.say(body ? undefined : why);
    this.emitter.fire(undefined);
  }

  getTreeItem(i: Item): vscode.TreeItem { return i; }
  getChildren(i?: Item): Item[] { return i ? i.kids : this.roots; }

  private build(b: DapAnalysis): Item[] {
    const a = b.analysis;
    const out: Item[] = [];
    const taskThreads = b.taskThreads ?? {};
    if (!a) {
      return [new Item(t('No fault analysis'), [], { id: 'verdict' })];
    }
    const verdict = b.localized?.verdict || a.verdict;
    out.push(new Item(t('Verdict ({0}): {1}', confidence(a.confidence), verdict), [], {
      tooltip: verdict, iconPath: new vscode.ThemeIcon('error'), id: 'verdict',
      command: showThread(b.crashThreadId, t('the crashing thread')),
    }));
    if (b.waits) {
      out.push(waitsItem(b.waits, taskThreads, b.localized?.waits));
    }
    const f = a.fault;
    const description = b.localized?.description || f?.description;
    const lines = (text: string | undefined, pc: string) => (text ?? '').split('\n').filter((l) => l.trim() !== '').map((l) => new Item(l, [], {
      iconPath: l.includes(pc.replace(/^0x/, '') + ':') ? new vscode.ThemeIcon('arrow-right') : undefined,
    }));
    if (f && (f.sent || f.kind === 'sent')) {
      // A sent signal: no instruction faulted; where the thread was.
      out.push(collapsed(new Item(t('Signal sent, no faulting instruction: at {0}', f.pc), lines(f.interrupted_listing ?? f.listing, f.pc), {
        description: f.function, tooltip: description,
      })));
    } else if (f) {
      out.push(collapsed(new Item(t('Faulting instruction: {0} at {1}', f.instruction, f.pc), lines(f.listing, f.pc), {
        description: f.function, tooltip: f.file ? `${f.file}:${f.line}` : undefined,
      })));
      if (f.register) {
        out.push(new Item(t('Bad register: %{0} = {1}', f.register, f.value ?? ''), (f.origin ?? []).map((o, i) => b.localized?.origin?.[i] ?? o.text).map((x) => new Item(x, [], { tooltip: x })), {
          description, tooltip: description,
        }));
      }
    }
    for (const o of a.objects ?? []) {
      const fields = Object.entries(o.fields ?? {}).map(([k, v]) => new Item(`${k} = ${v}`));
      out.push(collapsed(new Item(t('{0}: {1} at {2}', role(o.role), o.type, o.address ?? ''), fields, { tooltip: o.how })));
    }
    if (a.list_walk) {
      const w = a.list_walk;
      const kids = (w.findings ?? []).map((x, i) => b.localized?.findings?.[i] ?? x).map((x) => new Item(x, [], { tooltip: x, iconPath: new vscode.ThemeIcon('warning') }));
      if (w.hook_how) {
        kids.push(new Item(t('hook: {0}', w.hook_how), [], { tooltip: w.hook_how }));
      }
      out.push(new Item(t('List walk: {0} ({1}), {2} nodes reachable, size_ {3}', w.list, w.element, w.nodes, w.size ?? ''), kids,
        { description: t('header {0}, hook +{1}', w.header, w.hook_offset) }));
    }
    if (a.others && a.others.length > 0) {
      out.push(new Item(t('Others on the same object'), a.others.map((o, i) => {
        const tid = o.task !== undefined ? taskThreads[String(o.task)] : o.lwp;
        const said = b.localized?.others?.[i] ?? o;
        return new Item(t('{0}: {1} holds {2}', said.who, said.where, o.address), [], {
          description: o.path ?? o.function, tooltip: t('{0} in {1}', said.what, o.path ?? o.function ?? ''),
          iconPath: new vscode.ThemeIcon('debug-stackframe'),
          command: tid ? showThread(tid, o.who) : undefined,
        });
      })));
    }
    const m = a.memory;
    if (m) {
      const holders = list(m.holders).map((h, i) => {
        const tid = h.task >= 0 ? taskThreads[String(h.task)] : h.lwp;
        const how = h.fallback ? t('raw {0}', h.how) : `${h.variable}: ${h.var_type}`;
        return new Item(`${h.who}: ${h.expr}`, [], {
          description: `#${h.frame} ${h.function} (${how}), ${h.relation} ${h.role}`,
          tooltip: t('{0} in frame #{1} {2}: {3} the {4} ({5})', h.text, h.frame, h.function, h.relation, role(h.role), h.value),
          iconPath: new vscode.ThemeIcon(h.fallback ? 'question' : 'debug-stackframe'), id: `holder-${i}`,
          command: tid ? showHolder(tid, h) : undefined,
        });
      });
      for (const x of m.bounds ?? []) {
        holders.push(new Item(t('bound: {0}', x), [], { iconPath: new vscode.ThemeIcon('warning') }));
      }
      out.push(new Item(holders.length > 0 ? t('Holders') : t('Holders: no other thread or task holds the objects'), holders, { id: 'holders' }));
      const heap = list(m.heap).map((c, i) => ({ c, text: b.localized?.heap?.[i] ?? c.text })).map(({ c, text }) => new Item(`${role(c.role)}: ${chunkState(c.state)}${c.rule && c.rule !== 'unknown' ? ` [${c.rule}]` : ''}`, [], {
        description: text, tooltip: text,
        iconPath: new vscode.ThemeIcon(c.rule && c.rule !== 'unknown' ? 'error' : 'symbol-variable'),
      }));
      if (!m.heap_known) {
        heap.unshift(new Item(t('cannot tell: {0}', m.heap_reason ?? ''), [], { iconPath: new vscode.ThemeIcon('question') }));
      }
      if (m.malloc_error) {
        heap.push(new Item(t('glibc aborted: {0}', m.malloc_error), [], { iconPath: new vscode.ThemeIcon('error') }));
      }
      out.push(collapsed(new Item(t('Heap (glibc malloc)'), heap, { id: 'heap' })));
    }
    if (a.timeline && a.timeline.length > 0) {
      out.push(collapsed(new Item(t('Timeline'), a.timeline.map((st, i) => {
        const when = st.time ? st.time.slice(st.time.indexOf(' ') + 1) : st.at_dump ? t('at dump') : '';
        const ev = st.evidence === 'log' ? `${st.file}:${st.line}` : st.ref;
        const text = b.localized?.timeline?.[i] ?? st.text;
        const item = new Item(`${when ? when + ' ' : ''}${text}`, [], { description: `${st.evidence}: ${ev}`, tooltip: `${text}\n\n${st.source}`, id: `timeline-${i}` });
        const file = st.file ? list(a.logs?.files).find((f) => f.endsWith('/' + st.file) || f === st.file) : undefined;
        if (file) {
          item.command = { command: 'dsecore.openLogLine', title: t('Open Log Line'), arguments: [file, st.source] };
        }
        return item;
      }), { id: 'timeline' })));
    }
    if (a.logs) {
      const lines: Item[] = [];
      for (const group of list(a.logs.concurrent)) {
        lines.push(new Item(t('concurrent'), group.map((l) => logLine(l, list(a.logs!.files)))));
      }
      for (const l of list(a.logs.handler)) {
        lines.push(logLine(l, list(a.logs.files)));
      }
      out.push(collapsed(new Item(t('Log lines'), lines)));
    }
    out.push(collapsed(new Item(t('Evidence'), (a.evidence ?? []).map((e, i) => {
      const text = b.localized?.evidence?.[i] ?? e.text;
      return new Item(`[${e.rule}] ${text}`, [], { tooltip: text });
    }))));
    return out;
  }
}

// waitsItem is the Waits node: the answer in one sentence, Ceph's watchdog,
// each deadlock and chain with its members (Enter shows a member's stack),
// the objects waited for with their owners and waiters.
function waitsItem(w: WaitsResult, taskThreads: Record<string, number>, loc?: LocalizedWaits): Item {
  const nodes = list(w.nodes), objects = list(w.objects), cycles = list(w.cycles), chains = list(w.chains);
  const node = (id: string | undefined) => nodes.find((n) => n.id === id);
  const who = (id: string | undefined) => (id && loc?.who?.[id]) || node(id)?.who || id || '—';
  // A node's DAP thread: a switched-out task's own, else its thread's LWP.
  const threadOf = (id: string | undefined): number | undefined => {
    if (id?.startsWith('task:')) {
      return taskThreads[id.slice(5)];
    }
    return node(id)?.lwp || undefined;
  };
  const obj = (i: number) => (i >= 0 && i < objects.length ? objects[i].expr : '—');
  const show = (id: string) => {
    const tid = threadOf(id);
    return tid ? showThread(tid, who(id)) : undefined;
  };
  const members = (ms: WaitsMember[] | null) => list(ms).map((m) => new Item(t('{0}: holds {1}, waits {2}', who(m.node), obj(m.holds), obj(m.waits)), [], {
    description: m.wait_frame >= 0 ? `#${m.wait_frame} ${m.wait_function ?? ''}` : undefined,
    tooltip: [m.hold_frame >= 0 ? t('holds in #{0} {1}', m.hold_frame, m.hold_function ?? '') : '',
      m.wait_frame >= 0 ? t('waits in #{0} {1}', m.wait_frame, m.wait_function ?? '') : '']
      .filter((x) => x).join('\n'),
    iconPath: new vscode.ThemeIcon('debug-stackframe'), command: show(m.node),
  }));
  const kids: Item[] = [];
  const wd = w.watchdog;
  const wdText = loc?.watchdog || wd?.text;
  if (wd) {
    const lines = (wd.lines ?? []).map((l) => new Item(`${l.file}:${l.line}: ${l.text}`, [], { tooltip: l.text, iconPath: new vscode.ThemeIcon('output') }));
    if (wd.stuck) {
      lines.unshift(new Item(t('stuck: {0}', who(wd.stuck)), [], { command: show(wd.stuck), iconPath: new vscode.ThemeIcon('debug-stackframe') }));
    }
    kids.push(new Item(t('Watchdog: {0}', wdText ?? ''), lines, { tooltip: wdText, iconPath: new vscode.ThemeIcon('watch'), id: 'waits-watchdog' }));
  }
  cycles.forEach((c, i) => {
    const ms = members(c.members);
    for (const id of c.behind ?? []) {
      ms.push(new Item(t('behind it: {0}', who(id)), [], { command: show(id), iconPath: new vscode.ThemeIcon('debug-pause') }));
    }
    kids.push(new Item(t('Deadlock {0}: {1}', i + 1, list(c.members).map((m) => who(m.node)).join(' ⇄ ')), ms, {
      tooltip: loc?.cycles?.[i] || c.text, iconPath: new vscode.ThemeIcon('error'), id: `waits-cycle-${i}`,
    }));
  });
  chains.forEach((c, i) => {
    kids.push(new Item(t('Chain {0}: ends in {1} ({2})', i + 1, who(c.end), c.end_state), members(c.members), {
      tooltip: loc?.chains?.[i] || c.text, iconPath: new vscode.ThemeIcon('warning'), id: `waits-chain-${i}`,
    }));
  });
  const objs = objects.map((o, i) => ({ o, i })).filter(({ o }) => list(o.waiters).length > 0).map(({ o, i }) => {
    let owner = t('no owner known');
    if (o.owner) {
      owner = o.inferred ? t('held by {0} (inferred)', who(o.owner)) : t('held by {0}', who(o.owner));
      if (o.leaked) {
        owner = t('{0}, leaked', owner);
      }
    }
    return collapsed(new Item(`${o.kind} ${o.expr}: ${owner}`, list(o.waiters).map((id) => new Item(t('waiter: {0}', who(id)), [], {
      command: show(id), iconPath: new vscode.ThemeIcon('debug-pause'),
    })), { tooltip: loc?.objects?.[i] || o.text, description: o.address }));
  });
  if (objs.length > 0) {
    kids.push(collapsed(new Item(t('Objects waited for ({0})', objs.length), objs, { id: 'waits-objects' })));
  }
  const st = w.stats;
  const summary = loc?.summary || w.summary || wdText;
  return new Item(t('Waits: {0} of {1} threads and {2} tasks waiting on {3} objects; {4} deadlock(s), {5} chain(s)',
    st.waiting, st.threads, st.tasks, st.objects, cycles.length, chains.length), kids, {
    description: summary, tooltip: summary, iconPath: new vscode.ThemeIcon(w.hang ? 'debug-pause' : 'info'), id: 'waits',
  });
}

/** emptyTasksMessage says why a tasks body lists nothing, or undefined when it lists something. */
export function emptyTasksMessage(body: DapTasks): string | undefined {
  if (list(body.processers).length > 0 || list(body.tasks).length > 0) {
    return undefined;
  }
  const why = body.noRuntime ?? body.noTasks;
  if (why) {
    return t('No coroutine tasks: {0}.', why);
  }
  return t('No coroutine tasks: the profile {0} found no Processer and no task in this core.', body.profile ?? 'ceph-dse');
}

export class CoroutinesView extends MessageView implements vscode.TreeDataProvider<Item> {
  private emitter = new vscode.EventEmitter<Item | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private roots: Item[] = [];

  /** set shows a session's tasks; without them, the view says `why` is empty. */
  set(body: DapTasks | undefined, why?: string): void {
    this.roots = [];
    this.say(body ? emptyTasksMessage(body) : why);
    if (body) {
      const processers = list(body.processers), all = list(body.tasks);
      for (const p of processers) {
        const tasks = all.filter((x) => x.processer === p.id).map((x) => new Item(x.name || t('task {0}', x.id), [], {
          iconPath: new vscode.ThemeIcon(x.running ? 'debug-start' : x.state === 'block' ? 'debug-pause' : 'circle-outline'),
          command: showThread(x.threadId, t('task {0}', x.id)),
          id: `task-${x.id}`,
        }));
        const running = p.runningTask >= 0 ? t(', running task {0}', p.runningTask) : '';
        this.roots.push(new Item(t('Processer {0}', p.id), tasks, {
          description: `${p.name}${running}`, id: `processer-${p.id}`,
          command: p.threadId ? showThread(p.threadId, p.name) : undefined,
        }));
      }
      const orphans = all.filter((x) => !processers.some((p) => p.id === x.processer));
      if (orphans.length > 0) {
        this.roots.push(new Item(t('No Processer'), orphans.map((x) => new Item(x.name, [], { command: showThread(x.threadId, t('task {0}', x.id)) }))));
      }
    }
    this.emitter.fire(undefined);
  }

  getTreeItem(i: Item): vscode.TreeItem { return i; }
  getChildren(i?: Item): Item[] { return i ? i.kids : this.roots; }
}
