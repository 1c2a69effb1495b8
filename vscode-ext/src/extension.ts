// dsecore for VS Code: `dsecore dap` as the debugger of ceph-dse core dumps,
// with a Fault Analysis view, a Coroutines view, "Open Core Dump…" and
// "Summarize Core Directory…".
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import { ConfigError, dapArgs, findBinary, openCoreConfig, outputText, problemAction, resolveConfig, serverAddress } from './config';
import { DapAnalysis, DapFrameIndex, DapModules, DapTasks, ModuleProblem } from './documents';
import { AnalysisView, CoroutinesView } from './views';

let analysisView: AnalysisView;
let coroutinesView: CoroutinesView;
let extensionDir = '';
// The dsecore sessions that have started and not ended.
const live = new Set<string>();
// refreshes counts the views' refreshes: only the latest one's answers are shown.
let refreshes = 0;

function binary(): string {
  const setting = vscode.workspace.getConfiguration('dsecore').get<string>('path');
  return findBinary(setting, extensionDir, process.env.PATH).path;
}

class AdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  createDebugAdapterDescriptor(): vscode.ProviderResult<vscode.DebugAdapterDescriptor> {
    try {
      // A running server (dsecore.server), else the adapter over stdio.
      const server = serverAddress(vscode.workspace.getConfiguration('dsecore').get<string>('server'));
      if (server && 'path' in server) {
        return new vscode.DebugAdapterNamedPipeServer(server.path);
      }
      if (server) {
        return new vscode.DebugAdapterServer(server.port, server.host);
      }
      return new vscode.DebugAdapterExecutable(binary(), dapArgs());
    } catch (e) {
      const setting = e instanceof ConfigError ? 'dsecore.server' : 'dsecore.path';
      void vscode.window.showErrorMessage(String((e as Error).message), vscode.l10n.t('Open Settings')).then((a) => {
        if (a) {
          void vscode.commands.executeCommand('workbench.action.openSettings', setting);
        }
      });
      return undefined;
    }
  }
}

class ConfigProvider implements vscode.DebugConfigurationProvider {
  provideDebugConfigurations(): vscode.DebugConfiguration[] {
    return [{ type: 'dsecore', request: 'launch', name: vscode.l10n.t('Open ceph-dse core dump'), coreFile: '${workspaceFolder}/core' }];
  }

  resolveDebugConfigurationWithSubstitutedVariables(folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration): vscode.ProviderResult<vscode.DebugConfiguration> {
    if (!config.type && !config.request && !config.name) {
      // F5 without launch.json: ask for the core.
      void vscode.commands.executeCommand('dsecore.openCore');
      return undefined;
    }
    try {
      const settings = vscode.workspace.getConfiguration('dsecore', folder?.uri);
      return resolveConfig(config, folder?.uri.fsPath, {
        profile: settings.get<string>('profile'), authToken: settings.get<string>('authToken'), lang: vscode.env.language,
      }) as vscode.DebugConfiguration;
    } catch (e) {
      if (e instanceof ConfigError) {
        void vscode.window.showErrorMessage(`dsecore: ${e.message}`);
        return undefined;
      }
      throw e;
    }
  }
}

async function refreshViews(session: vscode.DebugSession | undefined): Promise<void> {
  if (!session || session.type !== 'dsecore') {
    return;
  }
  // Each view fills as its answer comes (the tasks come first: the
  // analysis unwinds every task); an answer is dropped when its session
  // has ended or a later refresh was asked for (a finished session's
  // answer never fills the next one's views), and a failure is said in the
  // view.
  const gen = ++refreshes;
  const current = () => gen === refreshes && live.has(session.id);
  const tasks = (session.customRequest('dsecore/tasks') as Promise<DapTasks>).then((t) => {
    if (current()) {
      coroutinesView.set(t);
    }
  }, (e: Error) => {
    if (current()) {
      coroutinesView.set(undefined, vscode.l10n.t('The coroutine tasks could not be read: {0}', e.message));
    }
  });
  const analysis = (session.customRequest('dsecore/analysis') as Promise<DapAnalysis>).then(async (a) => {
    if (current()) {
      analysisView.set(a);
      await vscode.commands.executeCommand('setContext', 'dsecore.hasAnalysis', true);
    }
  }, (e: Error) => {
    if (current()) {
      analysisView.set(undefined, vscode.l10n.t('The fault analysis could not be read: {0}', e.message));
    }
  });
  await Promise.all([tasks, analysis]);
}

// Editors a session opened: the sources of the frames it listed (files,
// and its own debug: documents). When a new session starts, those of the
// sessions that have ended are closed (unless edited): a finished
// session's editor does not stay open as if it were the new session's.
const sessionFiles = new Map<string, Set<string>>();

function noteSources(session: vscode.DebugSession, frames: { source?: { path?: string; sourceReference?: number } }[]): void {
  let files = sessionFiles.get(session.id);
  if (!files) {
    files = new Set();
    sessionFiles.set(session.id, files);
  }
  for (const f of frames) {
    if (f.source?.path && !f.source.sourceReference) {
      files.add(vscode.Uri.file(f.source.path).toString());
    }
  }
}

async function closeEndedSessionsEditors(live: Set<string>): Promise<void> {
  const ended = [...sessionFiles.keys()].filter((id) => !live.has(id));
  if (ended.length === 0) {
    return;
  }
  const files = new Set<string>();
  for (const id of ended) {
    for (const f of sessionFiles.get(id) ?? []) {
      files.add(f);
    }
    sessionFiles.delete(id);
  }
  const endedDebugDoc = (u: vscode.Uri) => u.scheme === 'debug' && ended.some((id) => new URLSearchParams(u.query).get('session') === id);
  const stale = vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => {
    if (!(t.input instanceof vscode.TabInputText) || t.isDirty || t.isPinned) {
      return false;
    }
    return files.has(t.input.uri.toString()) || endedDebugDoc(t.input.uri);
  });
  if (stale.length > 0) {
    await vscode.window.tabGroups.close(stale, true);
  }
}

class Tracker implements vscode.DebugAdapterTracker {
  // The module problems' messages, from the dsecore/modules event that
  // comes before their important outputs: each is notified once, with
  // its fix, and its output is not notified again.
  private problems = new Set<string>();

  constructor(private session: vscode.DebugSession, private state: vscode.Memento) {}

  onDidSendMessage(m: { type?: string; event?: string; command?: string; success?: boolean;
    body?: { category?: string; output?: string; problems?: DapModules['problems'];
      stackFrames?: { source?: { path?: string; sourceReference?: number } }[] } }): void {
    if (m.type === 'response' && m.command === 'stackTrace' && m.success && m.body?.stackFrames) {
      noteSources(this.session, m.body.stackFrames);
      return;
    }
    if (m.type !== 'event') {
      return;
    }
    if (m.event === 'stopped') {
      void refreshViews(this.session);
    } else if (m.event === 'dsecore/modules' && m.body?.problems) {
      for (const p of m.body.problems) {
        this.problems.add(p.message);
        void this.offerFix(p);
      }
    } else if (m.event === 'output' && m.body?.category === 'important' && m.body.output) {
      const text = outputText(m.body.output);
      if (!this.problems.has(text)) {
        void vscode.window.showWarningMessage(`dsecore: ${text}`);
      }
    }
  }

  // offerFix tells a module problem with the action that fixes it: pick
  // the executable or a library folder, remember it, restart the session.
  private async offerFix(p: ModuleProblem): Promise<void> {
    const picked = await vscode.window.showWarningMessage(`dsecore: ${p.message}`, problemAction(p, (m) => vscode.l10n.t(m)));
    if (!picked) {
      return;
    }
    const sel = await vscode.window.showOpenDialog(p.fix === 'program'
      ? { canSelectFiles: true, title: vscode.l10n.t('The ceph-dse executable of this core') }
      : { canSelectFolders: true, canSelectFiles: false, title: vscode.l10n.t('Folder with the libraries of this core') });
    if (sel && sel[0]) {
      const c = { ...this.session.configuration };
      if (p.fix === 'program') {
        c.program = sel[0].fsPath;
        await this.state.update('dsecore.program', c.program);
      } else {
        c.solibSearchPath = [...(c.solibSearchPath ?? []), sel[0].fsPath];
        await this.state.update('dsecore.libraryDir', sel[0].fsPath);
      }
      await vscode.debug.stopDebugging(this.session);
      await vscode.debug.startDebugging(this.session.workspaceFolder, c);
    }
  }
}

type Frame = { id: number; name: string; line: number; presentationHint?: string;
  source?: { path?: string; name?: string; sourceReference?: number; presentationHint?: string } };

// showThread shows a thread's (or a task's) stack as a quick pick; the
// frame chosen is selected in the Call Stack and opened, as a click there
// does.
async function showThread(threadId: number, title: string): Promise<void> {
  const session = vscode.debug.activeDebugSession;
  if (!session || session.type !== 'dsecore') {
    return;
  }
  const r = await session.customRequest('stackTrace', { threadId, startFrame: 0, levels: 200 }) as { stackFrames: Frame[] };
  const items = r.stackFrames.map((f, i) => ({
    label: `#${i} ${f.name}`,
    description: f.source?.path ? `${path.basename(f.source.path)}:${f.line}` : f.source?.name ?? '',
    frame: f,
    index: i,
  }));
  const pick = await vscode.window.showQuickPick(items, { title: vscode.l10n.t('Stack of {0}', title), matchOnDescription: true });
  if (!pick) {
    return;
  }
  const f = pick.frame;
  // The Call Stack's keyboard steps pass over deemphasized frames (and
  // labels): those are only opened.
  const deemphasized = f.presentationHint === 'subtle' || f.presentationHint === 'label' ||
    (f.presentationHint !== 'normal' && f.source?.presentationHint === 'deemphasize');
  if (!deemphasized && await selectFrame(session, threadId, pick.index, title)) {
    return;
  }
  await openFrameSource(session, f);
}

async function openFrameSource(session: vscode.DebugSession, f: Frame): Promise<void> {
  const src = f.source;
  let uri: vscode.Uri | undefined;
  if (src?.path && fs.existsSync(src.path)) {
    uri = vscode.Uri.file(src.path);
  } else if (src?.sourceReference) {
    uri = vscode.Uri.parse(`debug:${encodeURIComponent(src.name ?? 'disassembly')}?session=${session.id}&ref=${src.sourceReference}`);
  }
  if (uri) {
    const doc = await vscode.workspace.openTextDocument(uri);
    const line = Math.max(0, (f.line || 1) - 1);
    await vscode.window.showTextDocument(doc, { selection: new vscode.Range(line, 0, line, 0) });
  }
}

// waitStackItem resolves with the active stack item once `ok` holds for it
// (now or after a change), or undefined when no change comes in `ms`.
function waitStackItem(ok: (i: vscode.DebugStackFrame) => boolean, ms: number): Promise<vscode.DebugStackFrame | undefined> {
  const now = vscode.debug.activeStackItem;
  if (now instanceof vscode.DebugStackFrame && ok(now)) {
    return Promise.resolve(now);
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => { sub.dispose(); resolve(undefined); }, ms);
    const sub = vscode.debug.onDidChangeActiveStackItem((i) => {
      if (i instanceof vscode.DebugStackFrame && ok(i)) {
        clearTimeout(timer);
        sub.dispose();
        resolve(i);
      }
    });
  });
}

// selectFrame selects frame #frame of a thread (or task) in the Call
// Stack: the adapter stops on the thread (VS Code selects its top frame
// and opens it), then the selection steps along the stack, each step
// opening its frame as a click does, until the adapter says it is that
// frame. It reports whether it got there.
async function selectFrame(session: vscode.DebugSession, threadId: number, frame: number, title: string): Promise<boolean> {
  const onThread = waitStackItem((i) => i.session.id === session.id && i.threadId === threadId, 15000);
  await session.customRequest('dsecore/focus', { threadId, description: title });
  let cur = await onThread;
  for (let step = 0; cur && step < 512; step++) {
    const at = (await session.customRequest('dsecore/frameIndex', { frameId: cur.frameId }) as DapFrameIndex).index;
    if (at === frame) {
      return true;
    }
    const prev = cur.frameId;
    const moved = waitStackItem((i) => i.threadId === threadId && i.frameId !== prev, 5000);
    await vscode.commands.executeCommand(at < frame ? 'workbench.action.debug.callStackDown' : 'workbench.action.debug.callStackUp');
    cur = await moved;
  }
  return false;
}

// showHolder selects a holder's frame (its thread or task) in the Call
// Stack; the Variables view opens the frame on its first scope, the path
// the frame holds the object by.
async function showHolder(threadId: number, frame: number, title: string): Promise<void> {
  const session = vscode.debug.activeDebugSession;
  if (!session || session.type !== 'dsecore') {
    return;
  }
  if (await selectFrame(session, threadId, frame, vscode.l10n.t('holder (Fault Analysis): {0}', title))) {
    await vscode.commands.executeCommand('workbench.debug.action.focusVariablesView');
    return;
  }
  void vscode.window.showWarningMessage(vscode.l10n.t('dsecore: could not select frame #{0} of {1}', frame, title));
}

async function openLogLine(file: string, text: string): Promise<void> {
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
  const i = doc.getText().indexOf(text);
  const pos = i >= 0 ? doc.positionAt(i) : new vscode.Position(0, 0);
  await vscode.window.showTextDocument(doc, { selection: new vscode.Range(pos, pos) });
}

async function openCore(state: vscode.Memento): Promise<void> {
  const core = await vscode.window.showOpenDialog({ canSelectFiles: true, title: vscode.l10n.t('Open a ceph-dse core dump'),
    defaultUri: state.get<string>('dsecore.coreDir') ? vscode.Uri.file(state.get<string>('dsecore.coreDir')!) : undefined });
  if (!core || !core[0]) {
    return;
  }
  await state.update('dsecore.coreDir', path.dirname(core[0].fsPath));
  const exeChoice = await vscode.window.showQuickPick([
    { label: vscode.l10n.t('Find the executable from the core'), id: 'auto' },
    ...(state.get<string>('dsecore.program') ? [{ label: state.get<string>('dsecore.program')!, id: 'last', description: vscode.l10n.t('last used') }] : []),
    { label: vscode.l10n.t('Choose the executable…'), id: 'pick' },
  ], { title: vscode.l10n.t('The ceph-dse executable') });
  if (!exeChoice) {
    return;
  }
  let program: string | undefined;
  if (exeChoice.id === 'last') {
    program = state.get<string>('dsecore.program');
  } else if (exeChoice.id === 'pick') {
    const exe = await vscode.window.showOpenDialog({ canSelectFiles: true, title: vscode.l10n.t('The ceph-dse executable') });
    program = exe?.[0]?.fsPath;
    await state.update('dsecore.program', program);
  }
  const libChoice = await vscode.window.showQuickPick([
    { label: vscode.l10n.t('Libraries where the core says they are'), id: 'auto' },
    ...(state.get<string>('dsecore.libraryDir') ? [{ label: state.get<string>('dsecore.libraryDir')!, id: 'last', description: vscode.l10n.t('last used') }] : []),
    { label: vscode.l10n.t('Choose the library folder…'), id: 'pick' },
  ], { title: vscode.l10n.t('libdcache.so and the other libraries') });
  if (!libChoice) {
    return;
  }
  let libraryDir: string | undefined;
  if (libChoice.id === 'last') {
    libraryDir = state.get<string>('dsecore.libraryDir');
  } else if (libChoice.id === 'pick') {
    const lib = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title: vscode.l10n.t('Library folder') });
    libraryDir = lib?.[0]?.fsPath;
    await state.update('dsecore.libraryDir', libraryDir);
  }
  const folder = vscode.workspace.workspaceFolders?.[0];
  await vscode.debug.startDebugging(folder, openCoreConfig({ coreFile: core[0].fsPath, program, libraryDir }) as vscode.DebugConfiguration);
}

async function summarizeDirectory(): Promise<void> {
  const dir = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title: vscode.l10n.t('A directory of core dumps') });
  if (!dir || !dir[0]) {
    return;
  }
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dsecore-summary-')), 'report.html');
  const bin = binary();
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `dsecore: summarizing ${dir[0].fsPath}` },
    () => new Promise<void>((resolve, reject) => {
      execFile(bin, ['summarize', dir[0].fsPath, '--format', 'html', '--out', out, '--progress', 'never', '--lang', vscode.env.language], { maxBuffer: 64 << 20 },
        (err, _stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve()));
    })).then(() => {
    const panel = vscode.window.createWebviewPanel('dsecoreSummary', vscode.l10n.t('Crash summary: {0}', path.basename(dir[0].fsPath)), vscode.ViewColumn.Active,
      { enableScripts: false });
    panel.webview.html = fs.readFileSync(out, 'utf8');
  }, (e: Error) => vscode.window.showErrorMessage(`dsecore summarize: ${e.message}`));
}

export function activate(context: vscode.ExtensionContext): void {
  extensionDir = context.extensionPath;
  analysisView = new AnalysisView();
  coroutinesView = new CoroutinesView();
  const state = context.workspaceState;
  const analysisTree = vscode.window.createTreeView('dsecore.faultAnalysis', { treeDataProvider: analysisView, showCollapseAll: true });
  const coroutinesTree = vscode.window.createTreeView('dsecore.coroutines', { treeDataProvider: coroutinesView, showCollapseAll: true });
  analysisView.attach(analysisTree);
  coroutinesView.attach(coroutinesTree);
  context.subscriptions.push(
    vscode.debug.registerDebugAdapterDescriptorFactory('dsecore', new AdapterFactory()),
    vscode.debug.registerDebugConfigurationProvider('dsecore', new ConfigProvider()),
    vscode.debug.registerDebugConfigurationProvider('dsecore', new ConfigProvider(), vscode.DebugConfigurationProviderTriggerKind.Dynamic),
    vscode.debug.registerDebugAdapterTrackerFactory('dsecore', { createDebugAdapterTracker: (s) => new Tracker(s, state) }),
    analysisTree,
    coroutinesTree,
    vscode.commands.registerCommand('dsecore.openCore', () => openCore(state)),
    vscode.commands.registerCommand('dsecore.showFaultAnalysis', async () => {
      await refreshViews(vscode.debug.activeDebugSession);
      await vscode.commands.executeCommand('dsecore.faultAnalysis.focus');
    }),
    vscode.commands.registerCommand('dsecore.summarizeDirectory', summarizeDirectory),
    vscode.commands.registerCommand('dsecore.showThread', showThread),
    vscode.commands.registerCommand('dsecore.showHolder', showHolder),
    vscode.commands.registerCommand('dsecore.openLogLine', openLogLine),
    vscode.commands.registerCommand('dsecore.refreshViews', () => refreshViews(vscode.debug.activeDebugSession)),
    vscode.debug.onDidStartDebugSession((s) => {
      if (s.type !== 'dsecore') {
        return;
      }
      live.add(s.id);
      analysisView.set(undefined, vscode.l10n.t('Reading the fault analysis: it shows when the session stops on the crash.'));
      coroutinesView.set(undefined, vscode.l10n.t('Reading the coroutine tasks: they show when the session stops on the crash.'));
      void closeEndedSessionsEditors(live);
    }),
    vscode.debug.onDidTerminateDebugSession((s) => {
      if (s.type !== 'dsecore') {
        return;
      }
      live.delete(s.id);
      const other = vscode.debug.activeDebugSession;
      if (other && other.type === 'dsecore' && live.has(other.id)) {
        void refreshViews(other); // the views show the session that goes on
        return;
      }
      analysisView.set(undefined, vscode.l10n.t('No dsecore session: Start Debugging on a core.'));
      coroutinesView.set(undefined, vscode.l10n.t('No dsecore session: Start Debugging on a core.'));
      void vscode.commands.executeCommand('setContext', 'dsecore.hasAnalysis', false);
    }),
  );
}

export function deactivate(): void {}
