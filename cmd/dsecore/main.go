// Command dsecore is a post-mortem debugger backend for ceph-dse crash dumps.
//
//	dsecore bt CORE --all              every thread's stack, like gdb's "thread apply all bt"
//	dsecore inspect CORE               a one-page report of the crash
//	dsecore symbolize --lib libdcache.so --dmesg '…segfault at 0 ip … in libdcache.so[…]'
//
// Configuration comes from flags, DSECORE_* environment variables and a
// dsecore.yaml (--config, $DSECORE_CONFIG, ./dsecore.yaml, then
// ~/.config/dsecore/dsecore.yaml; nothing else is read as configuration).
package main

import (
	"bufio"
	"fmt"
	"os"
)

func main() {
	// Commands print through cmd.OutOrStdout(): buffered, a backtrace of
	// every task is hundreds of thousands of lines, not as many writes.
	// (The DAP server writes its messages to os.Stdout itself.)
	out := bufio.NewWriterSize(os.Stdout, 1<<16)
	root := newRootCmd()
	root.SetOut(out)
	err := root.Execute()
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dsecore:", err)
		os.Exit(1)
	}
}
