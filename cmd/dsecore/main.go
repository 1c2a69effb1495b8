// Command dsecore is a post-mortem debugger backend for ceph-dse crash dumps.
//
//	dsecore bt CORE --all              every thread's stack, like gdb's "thread apply all bt"
//	dsecore inspect CORE               a one-page report of the crash
//	dsecore symbolize --lib libdcache.so --dmesg '…segfault at 0 ip … in libdcache.so[…]'
//
// Configuration comes from flags, DSECORE_* environment variables and a
// dsecore.yaml (./dsecore.yaml, then ~/.config/dsecore/dsecore.yaml, or --config).
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "dsecore:", err)
		os.Exit(1)
	}
}
