# dsecore's gdb bridge (dse analyze, dse tasks, dse bt): load it in a
# session with
#     gdb -x /usr/share/dsecore/gdb/dsecore.py EXE CORE
# or in every session by uncommenting the next line.
# source /usr/share/dsecore/gdb/dsecore.py
