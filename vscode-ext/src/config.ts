// The extension's own logic, free of the vscode module so that it is tested
// with node alone: where the dsecore binary is, how a launch configuration
// is completed and checked, and the configuration "Open Core Dump…" builds.
import * as fs from 'fs';
import * as path from 'path';
import { ModuleProblem } from './documents';

/** Where each candidate binary came from, for messages. */
export type BinarySource = 'setting' | 'bundled' | 'PATH';

export interface FoundBinary {
  path: string;
  source: BinarySource;
}

function isExecutable(p: string): boolean {
  try {
    const st = fs.statSync(p);
    if (!st.isFile()) {
      return false;
    }
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * findBinary: the `dsecore.path` setting when set (and it must then exist:
 * a wrong setting is an error, not a silent fallback), else the binary
 * bundled in the extension (bin/dsecore), else `dsecore` on PATH.
 */
export function findBinary(setting: string | undefined, extensionDir: string, envPath: string | undefined): FoundBinary {
  if (setting && setting.trim() !== '') {
    const p = setting.trim();
    if (!isExecutable(p)) {
      throw new Error(`dsecore.path is set to ${p}, which is not an executable file`);
    }
    return { path: p, source: 'setting' };
  }
  const bundled = path.join(extensionDir, 'bin', 'dsecore');
  if (isExecutable(bundled)) {
    return { path: bundled, source: 'bundled' };
  }
  for (const dir of (envPath ?? '').split(path.delimiter)) {
    if (dir === '') {
      continue;
    }
    const p = path.join(dir, 'dsecore');
    if (isExecutable(p)) {
      return { path: p, source: 'PATH' };
    }
  }
  throw new Error('the dsecore binary was not found: set dsecore.path, or put dsecore on PATH (make build in the dsecore repository)');
}

/** The launch attributes the DAP server reads. */
export interface DsecoreConfig {
  type: string;
  request: string;
  name: string;
  coreFile?: string;
  program?: string;
  solibSearchPath?: string[];
  sysroot?: string;
  debugFileDirectory?: string[];
  sourceFileMap?: Record<string, string>;
  substitutePath?: { from: string; to: string }[];
  logFiles?: string[];
  profile?: string;
  showTasks?: 'all' | 'crash-related' | 'none';
  authToken?: string;
  /** The language the adapter writes its words for people in ("zh-cn", "en"). */
  lang?: string;
  [key: string]: unknown;
}

export class ConfigError extends Error {}

function stringArray(v: unknown, attr: string): string[] | undefined {
  if (v === undefined || v === null) {
    return undefined;
  }
  if (typeof v === 'string') {
    return v === '' ? [] : [v];
  }
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw new ConfigError(`${attr} must be an array of strings`);
  }
  return v as string[];
}

function absolute(p: string, base: string | undefined): string {
  if (p.startsWith('~/')) {
    return path.join(process.env.HOME ?? '/', p.slice(2));
  }
  return path.isAbsolute(p) || !base ? p : path.join(base, p);
}

/** The extension's settings that complete a launch configuration. */
export interface Settings {
  /** `dsecore.profile`: the coroutine profile of launches that name none. */
  profile?: string;
  /** `dsecore.authToken`: the server's token, for launches that name none. */
  authToken?: string;
  /** VS Code's display language (vscode.env.language), for launches that name none. */
  lang?: string;
}

/** A profile is a built-in name ("ceph-dse") or a YAML file. */
function isProfileFile(p: string): boolean {
  return p.includes('/') || /\.ya?ml$/.test(p);
}

/**
 * resolveConfig completes a launch configuration (F5 without launch.json,
 * relative paths, single strings for lists, the `dsecore.profile` setting
 * when the configuration names no profile) and rejects what the server
 * would refuse, with a message that names the attribute.
 */
export function resolveConfig(input: Record<string, unknown>, workspaceDir: string | undefined, settings: Settings = {}): DsecoreConfig {
  const c: DsecoreConfig = { ...(input as DsecoreConfig) };
  c.type = 'dsecore';
  c.request = c.request === 'attach' ? 'attach' : 'launch';
  if (typeof c.coreFile !== 'string' || c.coreFile.trim() === '') {
    throw new ConfigError('coreFile is required: the core dump to open');
  }
  c.coreFile = absolute(c.coreFile, workspaceDir);
  if (!c.name) {
    c.name = `core ${path.basename(c.coreFile)}`;
  }
  if (c.program !== undefined) {
    if (typeof c.program !== 'string') {
      throw new ConfigError('program must be a path');
    }
    if (c.program === '') {
      delete c.program;
    } else {
      c.program = absolute(c.program, workspaceDir);
    }
  }
  for (const attr of ['solibSearchPath', 'debugFileDirectory', 'logFiles'] as const) {
    const v = stringArray(c[attr], attr);
    if (v === undefined) {
      delete c[attr];
    } else {
      c[attr] = v.map((p) => absolute(p, workspaceDir));
    }
  }
  if (c.sourceFileMap !== undefined) {
    if (typeof c.sourceFileMap !== 'object' || Array.isArray(c.sourceFileMap) ||
      Object.values(c.sourceFileMap).some((v) => typeof v !== 'string')) {
      throw new ConfigError('sourceFileMap must map path prefixes to paths');
    }
  }
  if (c.substitutePath !== undefined) {
    if (!Array.isArray(c.substitutePath) ||
      c.substitutePath.some((r) => typeof r !== 'object' || r === null || typeof r.from !== 'string' || typeof r.to !== 'string')) {
      throw new ConfigError('substitutePath must be an array of {"from", "to"} rules');
    }
  }
  if (c.profile === undefined || c.profile === '') {
    delete c.profile;
    if (settings.profile && settings.profile.trim() !== '') {
      c.profile = settings.profile.trim();
    }
  }
  if (c.profile !== undefined) {
    if (typeof c.profile !== 'string') {
      throw new ConfigError('profile must be a built-in profile name or a YAML file');
    }
    if (isProfileFile(c.profile)) {
      c.profile = absolute(c.profile, workspaceDir);
    }
  }
  if (c.authToken === undefined || c.authToken === '') {
    delete c.authToken;
    if (settings.authToken && settings.authToken.trim() !== '') {
      c.authToken = settings.authToken.trim();
    }
  } else if (typeof c.authToken !== 'string') {
    throw new ConfigError('authToken must be a string: the token of the server\'s --auth-token-file');
  }
  if (c.lang === undefined || c.lang === '') {
    delete c.lang;
    if (settings.lang) {
      c.lang = settings.lang;
    }
  } else if (typeof c.lang !== 'string') {
    throw new ConfigError('lang must be a language tag such as "zh-cn" or "en"');
  }
  if (c.showTasks === undefined) {
    c.showTasks = 'all';
  } else if (!['all', 'crash-related', 'none'].includes(c.showTasks)) {
    throw new ConfigError('showTasks must be "all", "crash-related" or "none"');
  }
  return c;
}

/** What "Open Core Dump…" asked for. */
export interface OpenCorePicks {
  coreFile: string;
  program?: string;
  libraryDir?: string;
  logFiles?: string[];
}

/** openCoreConfig is the configuration "Open Core Dump…" starts. */
export function openCoreConfig(p: OpenCorePicks): DsecoreConfig {
  const c: DsecoreConfig = {
    type: 'dsecore',
    request: 'launch',
    name: `Core dump: ${path.basename(p.coreFile)}`,
    coreFile: p.coreFile,
    showTasks: 'all',
  };
  if (p.program) {
    c.program = p.program;
  }
  if (p.libraryDir) {
    c.solibSearchPath = [p.libraryDir];
  }
  if (p.logFiles && p.logFiles.length > 0) {
    c.logFiles = p.logFiles;
  }
  return c;
}

/** Where a running `dsecore dap --listen` server is. */
export type ServerAddress = { host: string; port: number } | { path: string };

/**
 * serverAddress reads the `dsecore.server` setting as dsecore dap reads
 * --listen: unix:PATH, host:port, or a bare port or :port on 127.0.0.1;
 * undefined when it is empty.
 */
export function serverAddress(setting: string | undefined): ServerAddress | undefined {
  const v = (setting ?? '').trim();
  if (v === '') {
    return undefined;
  }
  if (v.startsWith('unix:')) {
    const p = v.slice('unix:'.length);
    if (p === '') {
      throw new ConfigError('dsecore.server: unix: needs a socket path');
    }
    return { path: p };
  }
  const i = v.lastIndexOf(':');
  let host = i < 0 ? '127.0.0.1' : v.slice(0, i);
  const portText = i < 0 ? v : v.slice(i + 1);
  if (host === '') {
    host = '127.0.0.1';
  }
  host = host.replace(/^\[(.*)\]$/, '$1');
  const port = Number(portText);
  if (!/^[0-9]+$/.test(portText) || port < 1 || port > 65535) {
    throw new ConfigError(`dsecore.server: ${v} is not host:port, :port or unix:PATH`);
  }
  return { host, port };
}

/** dapArgs is the command line VS Code starts the adapter with. */
export function dapArgs(listen?: string): string[] {
  return listen ? ['dap', '--listen', listen] : ['dap'];
}

/**
 * problemAction is the button a module problem's notification offers, in
 * the words of t (the extension passes vscode.l10n.t; English without it).
 */
export function problemAction(p: ModuleProblem, t: (message: string) => string = (m) => m): string {
  return p.fix === 'program' ? t('Choose Executable…') : t('Choose Library Folder…');
}

/** outputText is an output event's text without the adapter's prefix. */
export function outputText(output: string): string {
  return output.replace(/^dsecore: /, '').trim();
}
