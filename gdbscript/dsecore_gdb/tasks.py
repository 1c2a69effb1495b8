"""Coroutine tasks shown through gdb's own unwinding: while a task is
selected, frame #0 of the thread it is shown on stays that thread's own
frame (a core's registers cannot be changed) and its caller is the task's
saved context: all seven registers the switch routine saved (rip, rsp, rbx,
rbp, r12-r15). gdb unwinds the task's stack from there with its own CFI, so
`frame N`, `info locals`, `p this->objs` work as on any thread. A frame
filter labels the thread's own frame and keeps gdb's numbering whole."""

import gdb
import gdb.unwinder

from .bridge import BRIDGE, DsecoreError

try:
    from gdb.FrameDecorator import FrameDecorator
except ImportError:  # gdb without frame filters
    FrameDecorator = object


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
    """Labels the thread's own frame on a thread that shows a task, and
    drops the empty frame past the task's entry trampoline."""

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
        # shows above it share its pc: one placeholder stands for them all,
        # the others printed under it (gdb's elided frames), so that the
        # numbering has no gap and `frame N` is the frame printed as #N.
        own = []
        for f in frames:
            if own is not None:
                if f.inferior_frame().pc() == a["pc"]:
                    own.append(f)
                    continue
                if own:
                    yield _TaskSeam(own[0], a, own[1:])
                own = None
            # Past the entry trampoline gdb finds a caller at pc 0: no frame.
            fr = f.inferior_frame()
            if fr.pc() == 0 and fr.older() is None:
                continue
            yield f
        if own:
            yield _TaskSeam(own[0], a, own[1:])


class _TaskSeam(FrameDecorator):
    def __init__(self, fobj, active, rest):
        super().__init__(fobj)
        self._a = active
        self._rest = [_OwnFrame(f, active) for f in rest]

    def function(self):
        return "<LWP %d's own frame; task %s's saved context follows>" % (self._a["lwp"], self._a["id"])

    def elided(self):
        return iter(self._rest) if self._rest else None

    def frame_args(self):
        return None

    def filename(self):
        return None

    def line(self):
        return None


class _OwnFrame(FrameDecorator):
    """One of the thread's own frames at the same pc (an inline level)."""

    def __init__(self, fobj, active):
        super().__init__(fobj)
        self._a = active

    def function(self):
        return "<LWP %d's own frame>" % self._a["lwp"]

    def frame_args(self):
        return None

    def filename(self):
        return None

    def line(self):
        return None


def _thread_by_lwp(lwp):
    for t in gdb.selected_inferior().threads():
        if t.ptid[1] == lwp:
            return t
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


def _forget(event):
    BRIDGE.active = None


_connected = False


def register():
    global _connected
    gdb.unwinder.register_unwinder(None, TaskUnwinder(), replace=True)
    gdb.frame_filters["dsecore-task"] = TaskFrameFilter()
    if not _connected:
        # A new core or executable: the shown task belongs to the old one.
        gdb.events.new_objfile.connect(_forget)
        _connected = True
