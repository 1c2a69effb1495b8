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
#
# This file is the loader: the bridge is the package dsecore_gdb beside it
# (bridge, tasks, commands, printers), imported from this file's directory.

import os
import sys

import gdb

_here = os.path.dirname(os.path.abspath(__file__))
if not os.path.isfile(os.path.join(_here, "dsecore_gdb", "__init__.py")):
    gdb.write("dsecore: the package dsecore_gdb is not beside %s (copy gdbscript/ whole): the bridge is not loaded\n" % __file__,
              gdb.STDERR)
else:
    if _here not in sys.path:
        sys.path.insert(0, _here)
    import dsecore_gdb

    dsecore_gdb.register()
