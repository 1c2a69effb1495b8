"""The data side of the bridge: the dsecore binary run on gdb's own core
and executable (with gdb's solib-search-path, sysroot and
debug-file-directory, so that gdb and dsecore look at the same files), its
JSON answers cached per core."""

import json
import os
import re
import shutil
import subprocess

import gdb

# The directory of the loader (dsecore.py): the dsecore binary may lie
# next to it, or in ../bin of a checkout.
SCRIPT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TIMEOUT = 600  # seconds for one dsecore run


class DsecoreError(gdb.GdbError):
    """A failure said to the gdb user in one line (no traceback)."""


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
        cands += [os.path.join(SCRIPT_DIR, "dsecore"), os.path.join(SCRIPT_DIR, "..", "bin", "dsecore")]
        for c in cands:
            if os.path.isfile(c) and os.access(c, os.X_OK):
                return os.path.abspath(c)
        found = shutil.which("dsecore")
        if found:
            return found
        raise DsecoreError(
            "dsecore: the dsecore binary was not found ($DSECORE, %s, ../bin, PATH). "
            "Build it with `make build` in the dsecore checkout (or `go build -o bin/dsecore ./cmd/dsecore`), "
            "or point $DSECORE at it." % SCRIPT_DIR)

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

    def fault_profile(self):
        """The fault-analysis profile dsecore used (its name, the members
        each dcache type's summary shows), None without a core or a
        document."""
        try:
            doc = self.inspect()
        except gdb.GdbError:
            return None
        return doc.get("fault_profile")

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
