# dsecore's gdb bridge: coroutine tasks, their stacks and the fault analysis
# of a ceph-dse core, inside gdb (13 or newer).
#
#     (gdb) source gdbscript/dsecore.py
#     (gdb) dse analyze          the fault analysis of the loaded core
#     (gdb) dse tasks            the coroutine tasks, like `info threads`
#     (gdb) dse task 15          inspect task 15's frames with gdb's commands
#     (gdb) dse bt 15            task 15's backtrace
#     (gdb) help dse             everything
#
# The data comes from the dsecore binary ($DSECORE, next to this script, in
# ../bin, or on PATH) run with --json on gdb's own core and executable, with
# gdb's solib-search-path, sysroot and debug-file-directory, so that gdb and
# dsecore look at the same files. Results are cached per core.
#
# A task is shown through a gdb unwinder: while a task is selected, frame #0
# of the thread it is shown on stays that thread's own frame (a core's
# registers cannot be changed) and its caller is the task's saved context:
# all seven registers the switch routine saved (rip, rsp, rbx, rbp, r12-r15).
# gdb unwinds the task's stack from there with its own CFI, so `frame N`,
# `info locals`, `p this->objs` and `finish`-free inspection work as on any
# thread. `dse task off` returns to the thread's own stack.

import json
import os
import re
import shutil
import subprocess

import gdb
import gdb.printing
import gdb.unwinder

try:
    from gdb.FrameDecorator import FrameDecorator
except ImportError:  # gdb without frame filters
    FrameDecorator = object

_SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))
_TIMEOUT = 600  # seconds for one dsecore run


class DsecoreError(gdb.GdbError):
    pass


# ---------------------------------------------------------------- the data


class Bridge:
    """Runs dsecore on gdb's core and keeps the answers per core."""

    def __init__(self):
        self.logs = []
        self.profile = None  # dse profile: the coroutine profile given to dsecore (None: dsecore's own choice)
        self._cache = {}
        self._failed = {}  # the same argv and core failed: not run again
        self._walks = {}  # dsecore list answers
        self.active = None  # the selected task: {"id", "regs", "lwp", "thread"}

    # Where dsecore is.
    def binary(self):
        cands = []
        if os.environ.get("DSECORE"):
            cands.append(os.environ["DSECORE"])
        cands += [os.path.join(_SCRIPT_DIR, "dsecore"), os.path.join(_SCRIPT_DIR, "..", "bin", "dsecore")]
        for c in cands:
            if os.path.isfile(c) and os.access(c, os.X_OK):
                return os.path.abspath(c)
        found = shutil.which("dsecore")
        if found:
            return found
        raise DsecoreError(
            "dsecore: the dsecore binary was not found ($DSECORE, %s, ../bin, PATH). "
            "Build it with `make build` in the dsecore checkout (or `go build -o bin/dsecore ./cmd/dsecore`), "
            "or point $DSECORE at it." % _SCRIPT_DIR)

    # gdb's own files.
    @staticmethod
    def core_file():
        try:
            out = gdb.execute("info files", to_string=True)
        except gdb.error:
            out = ""
        m = re.search(r"Local core dump file:\s*\n\s*`(.+?)', file type", out)
        if not m:
            raise DsecoreError("dsecore: no core file is loaded (gdb EXE CORE, or `core-file CORE`)")
        return m.group(1)

    @staticmethod
    def exe_file():
        pspace = gdb.selected_inferior().progspace
        return pspace.filename if pspace is not None else None

    @staticmethod
    def _param(name):
        try:
            v = gdb.parameter(name)
        except (gdb.error, RuntimeError):
            return None
        return v if v else None

    def argv(self, sub):
        """dsecore's argument list for gdb's current files (never a shell string)."""
        core = self.core_file()
        argv = [self.binary(), sub, "--json"]
        exe = self.exe_file()
        if exe:
            argv += ["--exe", exe]
        ssp = self._param("solib-search-path")
        if ssp:
            for d in ssp.split(os.pathsep):
                if d:
                    argv += ["--solib-search-path", d]
        sysroot = self._param("sysroot")
        if sysroot and not sysroot.startswith("target:") and sysroot != "/":
            argv += ["--sysroot", sysroot]
        dfd = self._param("debug-file-directory")
        if dfd:
            for d in dfd.split(os.pathsep):
                if d:
                    argv += ["--debug-file-directory", d]
        if self.profile:
            argv += ["--profile", self.profile]
        if sub == "inspect":
            for f in self.logs:
                argv += ["--log-dir" if os.path.isdir(f) else "--log", f]
        argv.append(core)
        return argv, core

    def inspect(self):
        """The inspect document of the loaded core (cached)."""
        argv, core = self.argv("inspect")
        try:
            st = os.stat(core)
            key = (tuple(argv), st.st_size, st.st_mtime_ns)
        except OSError as e:
            raise DsecoreError("dsecore: %s: %s" % (core, e.strerror))
        if key in self._failed:
            raise DsecoreError(self._failed[key])
        doc = self._cache.get(key)
        if doc is None:
            try:
                p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise DsecoreError("dsecore: no answer in %d s on %s" % (_TIMEOUT, core))
            if p.returncode != 0:
                self._failed[key] = "dsecore: %s" % (p.stderr.strip() or "exit status %d" % p.returncode)
                raise DsecoreError(self._failed[key])
            try:
                doc = json.loads(p.stdout)
            except ValueError as e:
                raise DsecoreError("dsecore: unreadable output: %s" % e)
            self._cache[key] = doc
            _add_debug_files(doc)
        return doc

    def render(self, kind, *args):
        """dsecore's own text of the cached inspect document (dsecore render)."""
        doc = self.inspect()
        argv = [self.binary(), "render", kind] + list(args)
        try:
            p = subprocess.run(argv, input=json.dumps(doc), capture_output=True, text=True, timeout=_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise DsecoreError("dsecore render: no answer in %d s" % _TIMEOUT)
        if p.returncode != 0:
            raise DsecoreError("dsecore: %s" % (p.stderr.strip() or "exit status %d" % p.returncode))
        return p.stdout

    def walk(self, header, size=None, limit=1000):
        """dsecore's walk of the intrusive list whose header node is at
        header (dsecore list --json), cached per core."""
        argv, core = self.argv("list")
        argv = argv[:-1] + ["--header", "%#x" % header, "--limit", str(limit)]
        if size is not None:
            argv += ["--size", "%#x" % (size & 0xffffffffffffffff)]
        argv.append(core)
        try:
            st = os.stat(core)
            key = (tuple(argv), st.st_size, st.st_mtime_ns)
        except OSError as e:
            raise DsecoreError("dsecore: %s: %s" % (core, e.strerror))
        doc = self._walks.get(key)
        if doc is None:
            try:
                p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise DsecoreError("dsecore list: no answer in %d s" % _TIMEOUT)
            if p.returncode != 0:
                raise DsecoreError("dsecore: %s" % (p.stderr.strip() or "exit status %d" % p.returncode))
            try:
                doc = json.loads(p.stdout)
            except ValueError as e:
                raise DsecoreError("dsecore list: unreadable output: %s" % e)
            self._walks[key] = doc
        return doc

    def spec(self):
        """The coroutine profile dsecore used (field names, layout), None
        without a core or a document."""
        try:
            doc = self.inspect()
        except gdb.GdbError:
            return None
        return (doc.get("coroutines") or {}).get("profile_spec")

    def processer_doc(self, addr):
        """The inspect document's Processer at an address."""
        try:
            doc = self.inspect()
        except gdb.GdbError:
            return None
        for p in (doc.get("coroutines") or {}).get("processers") or []:
            try:
                if int(p.get("address", "0"), 16) == addr:
                    return p
            except ValueError:
                pass
        return None

    def task(self, ident):
        doc = self.inspect()
        for t in doc.get("tasks") or []:
            if str(t.get("id")) == str(ident):
                return t
        raise DsecoreError("dsecore: no task %s (dse tasks lists them)" % ident)

    def processer_lwp(self, doc, pid):
        for p in (doc.get("coroutines") or {}).get("processers") or []:
            if p.get("id") == pid:
                return p.get("lwp")
        return None


BRIDGE = Bridge()


def _add_debug_files(doc):
    """Separate debug files dsecore found (in a debug directory or from a
    debuginfod server, $DEBUGINFOD_URLS) for objects gdb loaded without
    one: gdb reads them too, so its frames, arguments and types agree."""
    want = {}
    for m in doc.get("modules") or []:
        if m.get("debug_path") and m.get("build_id") and os.path.isfile(m["debug_path"]):
            want[m["build_id"]] = m["debug_path"]
    if not want:
        return
    owners = set()
    for o in gdb.objfiles():
        if getattr(o, "owner", None) is not None:
            owners.add(o.owner.filename)
    added = False
    for o in gdb.objfiles():
        bid = getattr(o, "build_id", None)
        if not bid or bid not in want or o.filename in owners or getattr(o, "owner", None) is not None:
            continue
        if o.filename == want[bid]:
            continue
        try:
            o.add_separate_debug_file(want[bid])
            added = True
        except (gdb.error, ValueError, RuntimeError) as e:
            gdb.write("dsecore: cannot add %s to %s: %s\n" % (want[bid], o.filename, e))
    if added:
        gdb.invalidate_cached_frames()


def _thread_by_lwp(lwp):
    for t in gdb.selected_inferior().threads():
        if t.ptid[1] == lwp:
            return t
    return None


# ---------------------------------------------------------- task unwinding


class _FrameID:
    # gdb 13 wants gdb.Value attributes (gdb.unwinder.FrameId came in 14).
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class TaskUnwinder(gdb.unwinder.Unwinder):
    """While a task is selected, the caller of frame #0 of its thread is the
    task's saved context."""

    def __init__(self):
        super().__init__("dsecore-task")

    def __call__(self, pending):
        a = BRIDGE.active
        if a is None:
            return None
        th = gdb.selected_thread()
        if th is None or th.ptid[1] != a["lwp"]:
            return None
        # The thread's innermost physical frame (inline frames above it
        # share its pc and sp, and gdb unwinds them itself).
        pc = pending.read_register("rip")
        if int(pc) != a["pc"] or int(pending.read_register("rsp")) != a["sp"]:
            return None
        # Frame #0's id uses the task's stack pointer: gdb refuses a caller
        # whose stack is "inner" to its callee, and the task's stack may lie
        # below the thread's.
        sp = gdb.Value(a["regs"]["rsp"]).cast(pending.read_register("rsp").type)
        info = pending.create_unwind_info(_FrameID(sp, pc))
        for name, value in a["regs"].items():
            try:
                t = pending.read_register(name).type
            except (gdb.error, ValueError):
                continue
            info.add_saved_register(name, gdb.Value(value).cast(t))
        return info


class TaskFrameFilter:
    """Labels frame #0 of a thread that shows a task."""

    def __init__(self):
        self.name = "dsecore-task"
        self.priority = 100
        self.enabled = True

    def filter(self, frames):
        a = BRIDGE.active
        if a is None:
            return frames
        th = gdb.selected_thread()
        if th is None or th.ptid[1] != a["lwp"]:
            return frames
        return self._label(frames, a)

    @staticmethod
    def _label(frames, a):
        # The thread's innermost physical frame and the inline frames gdb
        # shows above it share its pc: one placeholder stands for them all.
        top, seam = True, False
        for f in frames:
            if top and f.inferior_frame().pc() == a["pc"]:
                if not seam:
                    seam = True
                    yield _TaskSeam(f, a)
                continue
            top = False
            yield f


class _TaskSeam(FrameDecorator):
    def __init__(self, fobj, active):
        super().__init__(fobj)
        self._a = active

    def function(self):
        return "<LWP %d's own frame; task %s's saved context follows>" % (self._a["lwp"], self._a["id"])

    def frame_args(self):
        return None

    def filename(self):
        return None

    def line(self):
        return None


def select_task(t):
    """Shows task t on its Processer's thread (or the selected thread)."""
    doc = BRIDGE.inspect()
    if t.get("running"):
        th = _thread_by_lwp(t.get("lwp"))
        if th is None:
            raise DsecoreError("dsecore: task %s runs on LWP %s, which gdb does not list" % (t["id"], t.get("lwp")))
        deselect_task()
        th.switch()
        return th
    regs = t.get("saved_regs")
    if not regs:
        raise DsecoreError("dsecore: task %s (%s) has no saved context to show" % (t["id"], t.get("state")))
    lwp = BRIDGE.processer_lwp(doc, t.get("processer"))
    th = _thread_by_lwp(lwp) if lwp else None
    if th is None:
        th = gdb.selected_thread()
    if th is None:
        raise DsecoreError("dsecore: no thread to show the task on")
    th.switch()
    BRIDGE.active = None
    gdb.invalidate_cached_frames()
    f0 = gdb.newest_frame()
    BRIDGE.active = {"id": t["id"], "lwp": th.ptid[1], "pc": int(f0.pc()), "sp": int(f0.read_register("rsp")),
                     "regs": {k: int(v, 16) for k, v in regs.items()}}
    gdb.invalidate_cached_frames()
    return th


def task_top_level():
    """The level of the shown task's innermost frame."""
    a = BRIDGE.active
    f = gdb.newest_frame()
    while f is not None and a is not None and f.pc() == a["pc"]:
        f = f.older()
    return f.level() if f is not None else 0


def deselect_task():
    if BRIDGE.active is not None:
        BRIDGE.active = None
        gdb.invalidate_cached_frames()


# ---------------------------------------------------------------- commands


def _task_ids():
    try:
        return [str(t["id"]) for t in BRIDGE.inspect().get("tasks") or [] if t.get("id", -1) >= 0]
    except gdb.GdbError:
        return []


class DseCommand(gdb.Command):
    """dsecore: coroutine tasks and the fault analysis of a ceph-dse core.

dse analyze             the fault analysis (verdict, faulting instruction, bad register,
                        the object, the intrusive-list walk, others on the object, logs)
dse logs FILE|DIR...    ceph-dse logs to correlate (dse logs --clear forgets them)
dse profile [FILE|NAME] the coroutine runtime profile (dse profile alone: the one used)
dse tasks [--state S] [--processer N]
                        the coroutine tasks, like `info threads`
dse task ID             show task ID's stack on its Processer's thread: frame N,
                        info locals, print ... work on the task's frames
dse task off            back to the thread's own stack
dse bt ID [bt options]  task ID's backtrace
dse threads             gdb's threads with Processer names and pthread ids

The data comes from the dsecore binary ($DSECORE, next to this script, ../bin,
or PATH), run on gdb's core and executable with gdb's solib-search-path,
sysroot and debug-file-directory."""

    def __init__(self):
        super().__init__("dse", gdb.COMMAND_STACK, gdb.COMPLETE_NONE, True)


class DseAnalyze(gdb.Command):
    """The fault analysis of the loaded core: the verdict and its evidence,
the faulting instruction, the bad register and where its value came from,
the object it pointed into, the boost::intrusive list walk, the other
threads and tasks on the same object, and correlated log lines (dse logs).

Usage: dse analyze [--evidence]"""

    def __init__(self):
        super().__init__("dse analyze", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        gdb.write(BRIDGE.render("analysis", *([] if "--evidence" in arg.split() else ["--brief"])))


class DseWaits(gdb.Command):
    """Who waits for whom in the loaded core: every thread's and task's lock,
its owner (recorded by the lock, or inferred from the guard a frame holds),
the deadlocks with each member's holding and waiting frame, the chains to
a holder, Ceph's heartbeat watchdog (give its log with dse logs).

Usage: dse waits"""

    def __init__(self):
        super().__init__("dse waits", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        gdb.write(BRIDGE.render("waits"))


class DseLogs(gdb.Command):
    """Name ceph-dse log files or directories to correlate with the threads.

Usage: dse logs FILE|DIR...     (dse logs alone lists them; dse logs --clear forgets them)"""

    def __init__(self):
        super().__init__("dse logs", gdb.COMMAND_STACK, gdb.COMPLETE_FILENAME)

    def invoke(self, arg, from_tty):
        args = gdb.string_to_argv(arg)
        if args == ["--clear"]:
            BRIDGE.logs = []
        elif args:
            for a in args:
                p = os.path.abspath(os.path.expanduser(a))
                if not os.path.exists(p):
                    raise DsecoreError("dsecore: %s: no such file or directory" % a)
                BRIDGE.logs.append(p)
        gdb.write("logs: %s\n" % (", ".join(BRIDGE.logs) if BRIDGE.logs else "none"))


class DseProfile(gdb.Command):
    """The coroutine runtime profile dsecore reads the runtime with: a YAML
file or a built-in name, as dsecore's --profile takes it. Without one set
here, dsecore's own choice ($DSECORE_PROFILE, profile: in dsecore.yaml, else
ceph-dse). With no argument, the profile set and the one dsecore used on
this core (and the profile lines of what it adapted to this build).

Usage: dse profile [FILE|NAME]   (dse profile --default: dsecore's own choice again)"""

    def __init__(self):
        super().__init__("dse profile", gdb.COMMAND_STACK, gdb.COMPLETE_FILENAME)

    def invoke(self, arg, from_tty):
        args = gdb.string_to_argv(arg)
        if len(args) > 1:
            raise DsecoreError("usage: dse profile [FILE|NAME]")
        if args == ["--default"]:
            BRIDGE.profile = None
        elif args:
            a = os.path.expanduser(args[0])
            # A file by its absolute path (gdb's directory is not dsecore's
            # concern); anything else a built-in name, checked by dsecore.
            if os.path.exists(a):
                BRIDGE.profile = os.path.abspath(a)
            elif os.sep in a or a.endswith((".yaml", ".yml")):
                raise DsecoreError("dsecore: %s: no such file" % args[0])
            else:
                BRIDGE.profile = a
        gdb.write("profile set: %s\n" % (BRIDGE.profile or "none (dsecore's own choice)"))
        try:
            doc = BRIDGE.inspect()
        except gdb.GdbError as e:
            gdb.write("no profile used yet (%s)\n" % e)
            return
        c = doc.get("coroutines") or {}
        used = c.get("profile") or "?"
        src = c.get("profile_source")
        if src and src != used:
            used += " (%s)" % src
        gdb.write("profile used on this core: %s: %d tasks\n" % (used, len(doc.get("tasks") or [])))
        if c.get("no_tasks"):
            gdb.write("%s\n" % c["no_tasks"])
        if c.get("profile_lines"):
            gdb.write("adapted to this build; to say so in the profile: %s\n" % "; ".join(c["profile_lines"]))


class DseTasks(gdb.Command):
    """The coroutine tasks, like `info threads`.

Usage: dse tasks [--state runnable|block|new|done|running] [--processer N]"""

    def __init__(self):
        super().__init__("dse tasks", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        args = gdb.string_to_argv(arg)
        state = proc = None
        i = 0
        while i < len(args):
            a = args[i]
            if a in ("--state", "--processer") and i + 1 < len(args):
                if a == "--state":
                    state = args[i + 1]
                else:
                    try:
                        proc = int(args[i + 1])
                    except ValueError:
                        raise DsecoreError("dse tasks: --processer takes a number")
                i += 2
                continue
            raise DsecoreError("dse tasks: unknown argument %r (help dse tasks)" % a)
        extra = []
        if state:
            extra += ["--state", state]
        if proc is not None:
            extra += ["--processer", str(proc)]
        if BRIDGE.active is not None:
            extra += ["--shown", str(BRIDGE.active["id"])]
        gdb.write(BRIDGE.render("tasks", *extra))


class DseTask(gdb.Command):
    """Show a coroutine task's stack on its Processer's thread.

Usage: dse task ID      then bt, frame N, info locals, print ... on the task's frames
       dse task off     back to the thread's own stack
       dse task         which task is shown

The thread's innermost frame (with its inline frames) stays on top, labelled
as the thread's own (a core's registers cannot be set); the frames below it
are the task's, unwound by gdb from the task's saved context (rip, rsp, rbx,
rbp, r12-r15). dse task ID selects the task's innermost frame."""

    def __init__(self):
        super().__init__("dse task", gdb.COMMAND_STACK)

    def complete(self, text, word):
        return [i for i in _task_ids() + ["off"] if i.startswith(word or "")]

    def invoke(self, arg, from_tty):
        arg = arg.strip()
        if not arg:
            a = BRIDGE.active
            gdb.write("task %s on LWP %d\n" % (a["id"], a["lwp"]) if a else "no task is shown (dse task ID)\n")
            return
        if arg == "off":
            deselect_task()
            gdb.write("back to the threads' own stacks\n")
            return
        t = BRIDGE.task(arg)
        th = select_task(t)
        gdb.write("[Showing task %s (%s) on thread %d (LWP %d)]\n" % (t["id"], "running" if t.get("running") else t.get("state"), th.num, th.ptid[1]))
        if BRIDGE.active is not None:
            gdb.execute("frame %d" % task_top_level(), to_string=False)


class DseBt(gdb.Command):
    """A coroutine task's backtrace, printed by gdb (file:line, arguments).

Usage: dse bt ID [bt options, e.g. full, -frame-arguments all]"""

    def __init__(self):
        super().__init__("dse bt", gdb.COMMAND_STACK)

    def complete(self, text, word):
        return [i for i in _task_ids() if i.startswith(word or "")]

    def invoke(self, arg, from_tty):
        args = arg.split(None, 1)
        if not args:
            raise DsecoreError("usage: dse bt ID")
        t = BRIDGE.task(args[0])
        before = gdb.selected_thread()
        prev = BRIDGE.active
        select_task(t)
        try:
            gdb.write("Task %s (%s):\n" % (t["id"], "running" if t.get("running") else t.get("state")))
            gdb.execute("bt " + (args[1] if len(args) > 1 else ""))
        finally:
            BRIDGE.active = prev
            gdb.invalidate_cached_frames()
            if before is not None and before.is_valid():
                before.switch()


class DseThreads(gdb.Command):
    """gdb's threads with their Processer names and pthread ids."""

    def __init__(self):
        super().__init__("dse threads", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        doc = BRIDGE.inspect()
        by_lwp = {t.get("lwp"): t for t in doc.get("threads") or []}
        procs = {p.get("lwp"): p for p in (doc.get("coroutines") or {}).get("processers") or []}
        cur = gdb.selected_thread()
        gdb.write("  %-4s %-8s %-14s %-16s %-10s %s\n" % ("Id", "LWP", "Name", "pthread", "Processer", "Top"))
        for th in sorted(gdb.selected_inferior().threads(), key=lambda x: x.num):
            lwp = th.ptid[1]
            d = by_lwp.get(lwp, {})
            p = procs.get(lwp)
            proc = "-"
            if p is not None:
                proc = str(p["id"])
                if p.get("running_task", -1) >= 0:
                    proc += " (task %d)" % p["running_task"]
            mark = "*" if cur is not None and th.num == cur.num else " "
            name = d.get("name") or th.name or ""
            crash = " [crashed]" if d.get("crashed") else ""
            gdb.write("%s %-4d %-8d %-14s %-16s %-10s %s%s\n" % (mark, th.num, lwp, name, d.get("pthread", "?"), proc, d.get("top", ""), crash))


# ---------------------------------------------------------- pretty printers


def _strip(t):
    return t.strip_typedefs().unqualified()


def _hook_offset(elem):
    """The byte offset of elem's boost::intrusive list hook (member or base)."""
    for f in elem.fields():
        ft = _strip(f.type)
        tn = ft.tag or ft.name or ""
        if tn.startswith("boost::intrusive::list_member_hook") or tn.startswith("boost::intrusive::list_base_hook"):
            return f.bitpos // 8
    return None


class IntrusiveListPrinter:
    """boost::intrusive::list: its elements, reached through their hook."""

    limit = 1000

    def __init__(self, val):
        self.val = val
        t = _strip(val.type)
        self.elem = None
        try:
            a0 = t.template_argument(0)
            # list<T, member_hook<…>> names T; list_impl<mhtraits<T, …>> nests it.
            a0n = _strip(a0).tag or _strip(a0).name or ""
            self.elem = _strip(a0.template_argument(0)) if a0n.startswith(("boost::intrusive::mhtraits", "boost::intrusive::bhtraits")) else _strip(a0)
        except (gdb.error, RuntimeError, TypeError):
            pass
        self.off = None
        if self.elem is not None:
            self.off = _hook_offset(self.elem)
            if self.off is None:
                # A template argument can be the declaration only.
                try:
                    self.elem = gdb.lookup_type(self.elem.tag or self.elem.name).strip_typedefs()
                    self.off = _hook_offset(self.elem)
                except (gdb.error, TypeError):
                    pass
        rps = val["data_"]["root_plus_size_"]
        self.header = rps["m_header"].address
        try:
            self.size = int(rps["size_"])
        except gdb.error:
            self.size = None
        self.hooks, self.problem = self._walk()

    def _walk(self):
        """The walk of dsecore's one list walker (dsecore list): the hooks
        reached, why it stopped, and its findings."""
        try:
            self.walk = BRIDGE.walk(int(self.header), self.size, self.limit)
        except gdb.GdbError as e:
            self.walk = None
            return [], "dsecore list failed: %s" % e
        return [int(h, 16) for h in self.walk.get("hooks") or []], self.walk.get("stopped") or None

    def _finding(self, kind):
        for f in (self.walk or {}).get("findings") or []:
            if f.get("kind") == kind:
                return f
        return None

    def to_string(self):
        en = "?" if self.elem is None else (self.elem.tag or self.elem.name or str(self.elem))
        s = "boost::intrusive::list of %s, %d elements" % (en, len(self.hooks))
        if self.size is not None:
            signed = self.size - (1 << 64) if self.size >= 1 << 63 else self.size
            if signed != len(self.hooks):
                s += " (size_ says %d)" % signed
        if self.problem:
            s += " [walk stopped: %s]" % self.problem
        bad = self._finding("inconsistent-header")
        if bad is not None:
            try:
                prev = int(self.header.dereference()["prev_"])
            except gdb.MemoryError:
                prev = None
            if prev is not None and prev != int(self.header):
                s += " [header prev_ = %#x, not the header: inconsistent]" % prev
            else:
                s += " [header next_ = %s, not the header: inconsistent]" % bad.get("node", "?")
        return s

    def children(self):
        if self.elem is None or self.off is None:
            return
        ptr = self.elem.pointer()
        for i, h in enumerate(self.hooks):
            e = gdb.Value(h - self.off).cast(ptr)
            yield "[%d]" % i, e.dereference()

    def display_hint(self):
        return "array"


def _path(val, path):
    """The member at a dotted path ("ctx_.ctx_"), or raise KeyError naming
    the member that is not there."""
    v = val
    for name in path.split("."):
        try:
            v = v[name]
        except (gdb.error, KeyError, ValueError, TypeError):
            raise KeyError(name)
    return v


class _Reader:
    """Reads fields by the profile's paths; a field that is not there, or
    that cannot be read, is remembered, never raised."""

    def __init__(self, val):
        self.val = val
        self.missing = []

    def get(self, path, conv=int):
        if not path:
            return None
        try:
            return conv(_path(self.val, path))
        except KeyError as e:
            self.missing.append("%s (no member %s)" % (path, e.args[0]) if e.args[0] != path else path)
        except (gdb.error, gdb.MemoryError, ValueError, TypeError, OverflowError) as e:
            self.missing.append("%s (%s)" % (path, e))
        return None

    def note(self, tname):
        if not self.missing:
            return ""
        return " [not read from %s: %s]" % (tname, ", ".join(self.missing))


def _fields(val):
    """Every named data member, for children."""
    try:
        fs = _strip(val.type).fields()
    except (gdb.error, TypeError):
        return
    for f in fs:
        if f.name and not f.artificial and not f.is_base_class:
            try:
                yield f.name, val[f.name]
            except gdb.error:
                continue


def _string(v):
    return v.string() if int(v) else None


class DmHashNodePrinter:
    """dm_hash_node_t: key, refcount and state first, then its object list."""

    def __init__(self, val):
        self.val = val

    def to_string(self):
        r = _Reader(self.val)
        parts = []
        for f, fmt in (("key", "%#x"), ("bucket", "%d"), ("refcount", "%d"), ("state", "%d")):
            v = r.get(f)
            if v is not None:
                parts.append(("%s = " + fmt) % (f, v))
        return "dm_hash_node_t {%s}%s" % (", ".join(parts), r.note("dm_hash_node_t"))

    def children(self):
        return _fields(self.val)


class TaskPrinter:
    """A coroutine task (the profile's task type): id, state, Processer,
    saved stack pointer, where it was created."""

    def __init__(self, val, spec):
        self.val, self.spec = val, spec

    def to_string(self):
        sp, r = self.spec, _Reader(self.val)
        tid = r.get(sp.get("task_id"))
        st = r.get(sp.get("task_state"), lambda v: str(v).split("::")[-1])
        pid = "-"
        if sp.get("task_proc"):
            proc = r.get(sp["task_proc"], lambda v: v)
            if proc is not None:
                try:
                    pid = str(int(_path(proc.dereference(), sp["processer_id"]))) if int(proc) else "-"
                except KeyError as e:
                    r.missing.append("%s->%s (no member %s)" % (sp["task_proc"], sp["processer_id"], e.args[0]))
                    pid = "?"
                except (gdb.error, gdb.MemoryError) as e:
                    pid = "? (%s)" % e
        ssp = r.get(sp.get("task_sp"))
        where = ""
        if sp.get("task_func"):
            fn = r.get(sp["task_func"], _string)
            if fn:
                f = r.get(sp.get("task_file"), _string) if sp.get("task_file") else None
                ln = r.get(sp.get("task_line")) if sp.get("task_line") else None
                where = " created in %s (%s:%s)" % (fn, f or "?", "?" if ln is None else ln)
        return "%s %s [%s] on Processer %s, saved sp %s%s%s" % (
            sp.get("task_type"), "?" if tid is None else tid, st or "?", pid,
            "?" if ssp is None else "%#x" % ssp, where, r.note(sp.get("task_type")))

    def children(self):
        return _fields(self.val)


class ProcesserPrinter:
    """A Processer (the profile's type): id, its thread, the running task
    and the queues' lengths."""

    def __init__(self, val, spec):
        self.val, self.spec = val, spec

    def to_string(self):
        sp, r = self.spec, _Reader(self.val)
        pid = r.get(sp.get("processer_id"))
        run = "none"
        task = r.get(sp.get("running"), lambda v: v)
        if task is not None:
            try:
                if int(task):
                    run = "task %d" % int(_path(task.dereference(), sp["task_id"]))
            except KeyError as e:
                r.missing.append("%s->%s (no member %s)" % (sp["running"], sp["task_id"], e.args[0]))
                run = "?"
            except (gdb.error, gdb.MemoryError) as e:
                run = "? (%s)" % e
        qs = []
        for q in sorted(sp.get("queues") or {}):
            n = r.get(q + "." + sp["queue_count"]) if sp.get("queue_count") else None
            if n is not None:
                qs.append("%s %d" % (q.rstrip("_"), n))
        lwp = "?"
        try:
            d = BRIDGE.processer_doc(int(self.val.address)) if self.val.address is not None else None
        except gdb.error:
            d = None
        if d and d.get("lwp"):
            lwp = str(d["lwp"])
        return "%s %s (LWP %s), running %s; %s%s" % (sp.get("processer_type"), "?" if pid is None else pid, lwp, run,
                                                     ", ".join(qs) or "no queue read", r.note(sp.get("processer_type")))

    def children(self):
        return _fields(self.val)


def _lookup(val):
    t = val.type
    if t.code == gdb.TYPE_CODE_REF or t.code == gdb.TYPE_CODE_RVALUE_REF:
        return None
    t = _strip(t)
    if t.code != gdb.TYPE_CODE_STRUCT:
        return None
    name = t.tag or t.name or ""
    try:
        if name.startswith("boost::intrusive::list<") or name.startswith("boost::intrusive::list_impl<"):
            return IntrusiveListPrinter(val)
        if name == "dm_hash_node_t":
            return DmHashNodePrinter(val)
        if name.startswith(("std::", "boost::", "__gnu_cxx::")):
            return None
        # The runtime's types, by the names of the profile dsecore used.
        spec = BRIDGE.spec()
        if spec and name == spec.get("task_type"):
            return TaskPrinter(val, spec)
        if spec and name == spec.get("processer_type"):
            return ProcesserPrinter(val, spec)
    except (gdb.error, RuntimeError):
        return None
    return None


# ------------------------------------------------------------ registration


def _register():
    DseCommand()
    DseAnalyze()
    DseWaits()
    DseLogs()
    DseProfile()
    DseTasks()
    DseTask()
    DseBt()
    DseThreads()
    gdb.unwinder.register_unwinder(None, TaskUnwinder(), replace=True)
    gdb.frame_filters["dsecore-task"] = TaskFrameFilter()
    # Global, so it applies to objfiles loaded after this script (a core
    # loaded later, libraries found later).
    # Sourcing the script again replaces its printer instead of adding one.
    gdb.pretty_printers[:] = [p for p in gdb.pretty_printers if not getattr(p, "dsecore", False)]
    _lookup.dsecore = True
    gdb.pretty_printers.append(_lookup)

    def _forget(event):
        BRIDGE.active = None

    # A new core or executable: the shown task belongs to the old one.
    gdb.events.new_objfile.connect(_forget)


_register()
