"""Pretty printers: boost::intrusive lists through their hooks (the walk
is dsecore's one list walker), the coroutine runtime's task and Processer
by the names of the profile dsecore used on the core, and the dcache types
the fault profile summarizes, by its member names. One collection,
gdb.printing.RegexpCollectionPrettyPrinter, whose profile-named printers
follow the loaded core."""

import re

import gdb
import gdb.printing
import gdb.types

from .bridge import BRIDGE


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


class SummaryPrinter:
    """A type the fault profile summarizes (dm_hash_node_t: key, bucket,
    refcount and state): those members first, by the profile's names, then
    every member."""

    def __init__(self, val, tname, members):
        self.val, self.tname, self.members = val, tname, members

    def to_string(self):
        r = _Reader(self.val)
        parts = []
        for m in self.members:
            # "key/x": gdb's print format letter after the member's name.
            name, _, fmt = m.partition("/")
            v = r.get(name, lambda x: x)
            if v is None:
                continue
            try:
                text = ("%#x" % int(v)) if fmt == "x" else ("%d" % int(v))
            except (gdb.error, ValueError, TypeError, OverflowError):
                text = str(v)
            parts.append("%s = %s" % (name, text))
        return "%s {%s}%s" % (self.tname, ", ".join(parts), r.note(self.tname))

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


def _guarded(make):
    """A printer constructor that gives no printer (gdb's own printing)
    when the value cannot be read, instead of a Python exception."""

    def gen(val):
        try:
            return make(val)
        except (gdb.error, RuntimeError):
            return None

    return gen


class DsecorePrinters(gdb.printing.RegexpCollectionPrettyPrinter):
    """dsecore's printers. boost::intrusive lists always; the runtime's and
    the fault profile's types by the names dsecore used on the loaded core
    (read from its document when a value of an application struct is
    printed, and again when the core changes)."""

    _SKIP = ("std::", "boost::", "__gnu_cxx::")

    def __init__(self):
        super().__init__("dsecore")
        self.add_printer("boost::intrusive::list", r"^boost::intrusive::list(_impl)?<", _guarded(IntrusiveListPrinter))
        self._fixed = len(self.subprinters)
        self._names = None

    def __call__(self, val):
        try:
            t = gdb.types.get_basic_type(val.type)
        except (gdb.error, RuntimeError):
            return None
        name = t.tag or t.name or ""
        if t.code == gdb.TYPE_CODE_STRUCT and name and not name.startswith(self._SKIP):
            self._sync()
        return super().__call__(val)

    def _sync(self):
        spec = BRIDGE.spec() or {}
        fp = BRIDGE.fault_profile() or {}
        summaries = fp.get("summaries") or {}
        names = (spec.get("task_type"), spec.get("processer_type"), tuple(sorted((k, tuple(v)) for k, v in summaries.items())),
                 id(spec))
        if names == self._names:
            return
        self._names = names
        del self.subprinters[self._fixed:]
        if spec.get("task_type"):
            self.add_printer("task", "^%s$" % re.escape(spec["task_type"]), _guarded(lambda v, s=spec: TaskPrinter(v, s)))
        if spec.get("processer_type"):
            self.add_printer("processer", "^%s$" % re.escape(spec["processer_type"]), _guarded(lambda v, s=spec: ProcesserPrinter(v, s)))
        for tname, members in sorted(summaries.items()):
            self.add_printer(tname, "^%s$" % re.escape(tname), _guarded(lambda v, n=tname, m=list(members): SummaryPrinter(v, n, m)))


PRINTERS = DsecorePrinters()


def register():
    # Global (None), so that it applies to objfiles loaded after the
    # bridge (a core loaded later, libraries found later); sourcing the
    # bridge again replaces it.
    gdb.printing.register_pretty_printer(None, PRINTERS, replace=True)
