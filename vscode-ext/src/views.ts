// The Run and Debug container's dsecore views: Fault Analysis (the verdict
// and its evidence, and who waits for whom, from the adapter's
// dsecore/analysis request) and
// Coroutines (Processers and their tasks, from dsecore/tasks).
import * as vscode from 'vscode';
import { DapAnalysis, DapTasks, ReportAnalysisHolder, WaitsMember, WaitsResult } from './documents';

// The documents' types (DapAnalysis, DapTasks, …) are generated from the
// Go side's JSON Schemas (src/documents.ts, npm run gen-types): a field the
// views read that the adapter does not send fails the compile.
// list is a document's list, [] for the null a nil Go slice is sent as.
function list<T>(x: T[] | null | undefined): T[] {
  return x ?? [];
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
  return { command: 'dsecore.showThread', title: 'Show Stack', arguments: [threadId, title] };
}

// showHolder selects a holder's frame (its thread or task) in the Call
// Stack; its Variables then open on the path it holds the object by.
function showHolder(threadId: number, h: ReportAnalysisHolder): vscode.Command {
  return { command: 'dsecore.showHolder', title: 'Select the Holder\'s Frame', arguments: [threadId, h.frame, `${h.who}: ${h.expr}`] };
}

function logLine(line: string, files: string[]): Item {
  // "ceph-dse.engine.64.4.log: 2026-… text": open the file at that line.
  const m = /^([^:]+): (.*)$/.exec(line);
  const item = new Item(line, [], { tooltip: line, iconPath: new vscode.ThemeIcon('output') });
  if (m) {
    const file = files.find((f) => f.endsWith('/' + m[1]) || f === m[1]);
    if (file) {
      item.command = { command: 'dsecore.openLogLine', title: 'Open Log Line', arguments: [file, m[2]] };
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
      return [new Item('No fault analysis', [], { id: 'verdict' })];
    }
    out.push(new Item(`Verdict (${a.confidence}): ${a.verdict}`, [], {
      tooltip: a.verdict, iconPath: new vscode.ThemeIcon('error'), id: 'verdict',
      command: showThread(b.crashThreadId, 'the crashing thread'),
    }));
    if (b.waits) {
      out.push(waitsItem(b.waits, taskThreads));
    }
    const f = a.fault;
    const lines = (text: string | undefined, pc: string) => (text ?? '').split('\n').filter((l) => l.trim() !== '').map((l) => new Item(l, [], {
      iconPath: l.includes(pc.replace(/^0x/, '') + ':') ? new vscode.ThemeIcon('arrow-right') : undefined,
    }));
    if (f && (f.sent || f.kind === 'sent')) {
      // A sent signal: no instruction faulted; where the thread was.
      out.push(collapsed(new Item(`Signal sent, no faulting instruction: at ${f.pc}`, lines(f.interrupted_listing ?? f.listing, f.pc), {
        description: f.function, tooltip: f.description,
      })));
    } else if (f) {
      out.push(collapsed(new Item(`Faulting instruction: ${f.instruction} at ${f.pc}`, lines(f.listing, f.pc), {
        description: f.function, tooltip: f.file ? `${f.file}:${f.line}` : undefined,
      })));
      if (f.register) {
        out.push(new Item(`Bad register: %${f.register} = ${f.value}`, (f.origin ?? []).map((o) => new Item(o.text, [], { tooltip: o.text })), {
          description: f.description, tooltip: f.description,
        }));
      }
    }
    for (const o of a.objects ?? []) {
      const fields = Object.entries(o.fields ?? {}).map(([k, v]) => new Item(`${k} = ${v}`));
      out.push(collapsed(new Item(`${o.role}: ${o.type} at ${o.address}`, fields, { tooltip: o.how })));
    }
    if (a.list_walk) {
      const w = a.list_walk;
      const kids = (w.findings ?? []).map((x) => new Item(x, [], { tooltip: x, iconPath: new vscode.ThemeIcon('warning') }));
      if (w.hook_how) {
        kids.push(new Item(`hook: ${w.hook_how}`, [], { tooltip: w.hook_how }));
      }
      out.push(new Item(`List walk: ${w.list} (${w.element}), ${w.nodes} nodes reachable, size_ ${w.size}`, kids,
        { description: `header ${w.header}, hook +${w.hook_offset}` }));
    }
    if (a.others && a.others.length > 0) {
      out.push(new Item('Others on the same object', a.others.map((o) => {
        const tid = o.task !== undefined ? taskThreads[String(o.task)] : o.lwp;
        return new Item(`${o.who}: ${o.where} holds ${o.address}`, [], {
          description: o.path ?? o.function, tooltip: `${o.what} in ${o.path ?? o.function}`,
          iconPath: new vscode.ThemeIcon('debug-stackframe'),
          command: tid ? showThread(tid, o.who) : undefined,
        });
      })));
    }
    const m = a.memory;
    if (m) {
      const holders = list(m.holders).map((h, i) => {
        const tid = h.task >= 0 ? taskThreads[String(h.task)] : h.lwp;
        const how = h.fallback ? `raw ${h.how}` : `${h.variable}: ${h.var_type}`;
        return new Item(`${h.who}: ${h.expr}`, [], {
          description: `#${h.frame} ${h.function} (${how}), ${h.relation} ${h.role}`,
          tooltip: `${h.text} in frame #${h.frame} ${h.function}: ${h.relation} the ${h.role} (${h.value})`,
          iconPath: new vscode.ThemeIcon(h.fallback ? 'question' : 'debug-stackframe'), id: `holder-${i}`,
          command: tid ? showHolder(tid, h) : undefined,
        });
      });
      for (const x of m.bounds ?? []) {
        holders.push(new Item(`bound: ${x}`, [], { iconPath: new vscode.ThemeIcon('warning') }));
      }
      out.push(new Item(holders.length > 0 ? 'Holders' : 'Holders: no other thread or task holds the objects', holders, { id: 'holders' }));
      const heap = list(m.heap).map((c) => new Item(`${c.role}: ${c.state}${c.rule && c.rule !== 'unknown' ? ` [${c.rule}]` : ''}`, [], {
        description: c.text, tooltip: c.text,
        iconPath: new vscode.ThemeIcon(c.rule && c.rule !== 'unknown' ? 'error' : 'symbol-variable'),
      }));
      if (!m.heap_known) {
        heap.unshift(new Item(`cannot tell: ${m.heap_reason ?? ''}`, [], { iconPath: new vscode.ThemeIcon('question') }));
      }
      if (m.malloc_error) {
        heap.push(new Item(`glibc aborted: ${m.malloc_error}`, [], { iconPath: new vscode.ThemeIcon('error') }));
      }
      out.push(collapsed(new Item('Heap (glibc malloc)', heap, { id: 'heap' })));
    }
    if (a.timeline && a.timeline.length > 0) {
      out.push(collapsed(new Item('Timeline', a.timeline.map((st, i) => {
        const when = st.time ? st.time.slice(st.time.indexOf(' ') + 1) : st.at_dump ? 'at dump' : '';
        const ev = st.evidence === 'log' ? `${st.file}:${st.line}` : st.ref;
        const item = new Item(`${when ? when + ' ' : ''}${st.text}`, [], { description: `${st.evidence}: ${ev}`, tooltip: `${st.text}\n\n${st.source}`, id: `timeline-${i}` });
        const file = st.file ? list(a.logs?.files).find((f) => f.endsWith('/' + st.file) || f === st.file) : undefined;
        if (file) {
          item.command = { command: 'dsecore.openLogLine', title: 'Open Log Line', arguments: [file, st.source] };
        }
        return item;
      }), { id: 'timeline' })));
    }
    if (a.logs) {
      const lines: Item[] = [];
      for (const group of list(a.logs.concurrent)) {
        lines.push(new Item('concurrent', group.map((l) => logLine(l, list(a.logs!.files)))));
      }
      for (const l of list(a.logs.handler)) {
        lines.push(logLine(l, list(a.logs.files)));
      }
      out.push(collapsed(new Item('Log lines', lines)));
    }
    out.push(collapsed(new Item('Evidence', (a.evidence ?? []).map((e) => new Item(`[${e.rule}] ${e.text}`, [], { tooltip: e.text })))));
    return out;
  }
}

// waitsItem is the Waits node: the answer in one sentence, Ceph's watchdog,
// each deadlock and chain with its members (Enter shows a member's stack),
// the objects waited for with their owners and waiters.
function waitsItem(w: WaitsResult, taskThreads: Record<string, number>): Item {
  const nodes = list(w.nodes), objects = list(w.objects), cycles = list(w.cycles), chains = list(w.chains);
  const node = (id: string | undefined) => nodes.find((n) => n.id === id);
  const who = (id: string | undefined) => node(id)?.who ?? id ?? '—';
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
  const members = (ms: WaitsMember[] | null) => list(ms).map((m) => new Item(`${who(m.node)}: holds ${obj(m.holds)}, waits ${obj(m.waits)}`, [], {
    description: m.wait_frame >= 0 ? `#${m.wait_frame} ${m.wait_function ?? ''}` : undefined,
    tooltip: [m.hold_frame >= 0 ? `holds in #${m.hold_frame} ${m.hold_function ?? ''}` : '', m.wait_frame >= 0 ? `waits in #${m.wait_frame} ${m.wait_function ?? ''}` : '']
      .filter((x) => x).join('\n'),
    iconPath: new vscode.ThemeIcon('debug-stackframe'), command: show(m.node),
  }));
  const kids: Item[] = [];
  const wd = w.watchdog;
  if (wd) {
    const lines = (wd.lines ?? []).map((l) => new Item(`${l.file}:${l.line}: ${l.text}`, [], { tooltip: l.text, iconPath: new vscode.ThemeIcon('output') }));
    if (wd.stuck) {
      lines.unshift(new Item(`stuck: ${who(wd.stuck)}`, [], { command: show(wd.stuck), iconPath: new vscode.ThemeIcon('debug-stackframe') }));
    }
    kids.push(new Item(`Watchdog: ${wd.text}`, lines, { tooltip: wd.text, iconPath: new vscode.ThemeIcon('watch'), id: 'waits-watchdog' }));
  }
  cycles.forEach((c, i) => {
    const ms = members(c.members);
    for (const id of c.behind ?? []) {
      ms.push(new Item(`behind it: ${who(id)}`, [], { command: show(id), iconPath: new vscode.ThemeIcon('debug-pause') }));
    }
    kids.push(new Item(`Deadlock ${i + 1}: ${list(c.members).map((m) => who(m.node)).join(' ⇄ ')}`, ms, {
      tooltip: c.text, iconPath: new vscode.ThemeIcon('error'), id: `waits-cycle-${i}`,
    }));
  });
  chains.forEach((c, i) => {
    kids.push(new Item(`Chain ${i + 1}: ends in ${who(c.end)} (${c.end_state})`, members(c.members), {
      tooltip: c.text, iconPath: new vscode.ThemeIcon('warning'), id: `waits-chain-${i}`,
    }));
  });
  const objs = objects.filter((o) => list(o.waiters).length > 0).map((o) => {
    const owner = o.owner ? `held by ${who(o.owner)}${o.inferred ? ' (inferred)' : ''}${o.leaked ? ', leaked' : ''}` : 'no owner known';
    return collapsed(new Item(`${o.kind} ${o.expr}: ${owner}`, list(o.waiters).map((id) => new Item(`waiter: ${who(id)}`, [], {
      command: show(id), iconPath: new vscode.ThemeIcon('debug-pause'),
    })), { tooltip: o.text, description: o.address }));
  });
  if (objs.length > 0) {
    kids.push(collapsed(new Item(`Objects waited for (${objs.length})`, objs, { id: 'waits-objects' })));
  }
  const st = w.stats;
  return new Item(`Waits: ${st.waiting} of ${st.threads} threads and ${st.tasks} tasks waiting on ${st.objects} objects; ` +
    `${cycles.length} deadlock(s), ${chains.length} chain(s)`, kids, {
    description: w.summary || wd?.text, tooltip: w.summary || wd?.text, iconPath: new vscode.ThemeIcon(w.hang ? 'debug-pause' : 'info'), id: 'waits',
  });
}

/** emptyTasksMessage says why a tasks body lists nothing, or undefined when it lists something. */
export function emptyTasksMessage(body: DapTasks): string | undefined {
  if (list(body.processers).length > 0 || list(body.tasks).length > 0) {
    return undefined;
  }
  const why = body.noRuntime ?? body.noTasks;
  if (why) {
    return `No coroutine tasks: ${why}.`;
  }
  return `No coroutine tasks: the profile ${body.profile ?? 'ceph-dse'} found no Processer and no task in this core.`;
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
        const tasks = all.filter((t) => t.processer === p.id).map((t) => new Item(t.name || `task ${t.id}`, [], {
          iconPath: new vscode.ThemeIcon(t.running ? 'debug-start' : t.state === 'block' ? 'debug-pause' : 'circle-outline'),
          description: t.func ? `created in ${t.func}` : undefined,
          command: showThread(t.threadId, `task ${t.id}`),
          id: `task-${t.id}`,
        }));
        const running = p.runningTask >= 0 ? `, running task ${p.runningTask}` : '';
        this.roots.push(new Item(`Processer ${p.id}`, tasks, {
          description: `${p.name}${running}`, id: `processer-${p.id}`,
          command: p.threadId ? showThread(p.threadId, p.name) : undefined,
        }));
      }
      const orphans = all.filter((t) => !processers.some((p) => p.id === t.processer));
      if (orphans.length > 0) {
        this.roots.push(new Item('No Processer', orphans.map((t) => new Item(t.name, [], { command: showThread(t.threadId, `task ${t.id}`) }))));
      }
    }
    this.emitter.fire(undefined);
  }

  getTreeItem(i: Item): vscode.TreeItem { return i; }
  getChildren(i?: Item): Item[] { return i ? i.kids : this.roots; }
}
