"""dsecore's gdb bridge: coroutine tasks, their stacks and the fault
analysis of a ceph-dse core, inside gdb (13 or newer). Loaded by
gdbscript/dsecore.py (`source` it, or `gdb -x`); by concern:

    bridge    the dsecore binary run on gdb's core and files, its answers cached
    tasks     the task unwinder and the frame filter that labels the seam
    commands  the dse commands
    printers  the pretty printers (gdb.printing.RegexpCollectionPrettyPrinter)
"""

from . import commands, printers, tasks


def register():
    """Registers the commands, the task unwinder and frame filter, and the
    printers; registering again (the loader sourced again) replaces them."""
    commands.register()
    tasks.register()
    printers.register()
