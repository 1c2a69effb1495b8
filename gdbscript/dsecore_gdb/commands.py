"""The dse commands: the fault analysis, the coroutine tasks and their
stacks, gdb's threads with their Processers, waits and logs."""

import os

import gdb

from .bridge import BRIDGE, DsecoreError
from .tasks import deselect_task, select_task, task_top_level


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
        text = BRIDGE.render("analysis", *([] if "--evidence" in arg.split() else ["--brief"]))
        gdb.write(beside_verdict(text, missing_files(BRIDGE.inspect())))


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


# ------------------------------------------------- files the answer lacks


def missing_files(doc):
    """Lines saying which of the core's files dsecore (and gdb, given the
    same settings) did not find, or found without what the answer needs,
    each with gdb's setting that fixes it: every missing or mismatched
    module, and the modules of the crashing stack without debug
    information."""
    crashed = set()
    for f in (doc.get("crashed_thread") or {}).get("frames") or []:
        if f.get("module"):
            crashed.add(f["module"])
    out = []
    for m in doc.get("modules") or []:
        name, base = m.get("name", "?"), os.path.basename(m.get("name", "?"))
        st = m.get("status")
        if st == "missing":
            out.append("%s was not found (the core names %s): its frames, types and variables are missing here.\n"
                       "  Tell gdb where it is: set solib-search-path DIR (the directory that holds it; "
                       "or set sysroot DIR for a copy of the crashed machine's files), then dse analyze again."
                       % (base, name))
        elif st == "build-id-mismatch":
            out.append("%s at %s is not the build the core ran (%s): its symbols are not used.\n"
                       "  Tell gdb where the right build is: set solib-search-path DIR, then dse analyze again."
                       % (base, m.get("path", "?"), m.get("symbol_status", "build-id mismatch")))
        elif st == "no-debug-info" and (name in crashed or base in crashed or m.get("path") in crashed):
            why = "; ".join(m.get("symbol_problems") or []) or m.get("symbol_status") or "no DWARF"
            out.append("%s has no debug information (%s): the crashing stack's frames in it have no types or variables.\n"
                       "  Tell gdb where its debug file is: set debug-file-directory DIR, then dse analyze again." % (base, why))
    return out


def beside_verdict(text, notes):
    """The analysis text with notes right after its verdict line."""
    if not notes:
        return text
    lines = text.split("\n")
    at = next((i + 1 for i, ln in enumerate(lines) if ln.startswith("Verdict")), 0)
    return "\n".join(lines[:at] + notes + lines[at:])


def register():
    DseCommand()
    DseAnalyze()
    DseWaits()
    DseLogs()
    DseProfile()
    DseTasks()
    DseTask()
    DseBt()
    DseThreads()
