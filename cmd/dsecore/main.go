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
	"strings"

	"github.com/dsecore/dsecore/internal/cachefile"
	"github.com/dsecore/dsecore/internal/mmap"
	"github.com/spf13/cobra"
)

func main() {
	// A read of a mapped file that changed (a library cut shorter by a
	// cp over it, a truncated cache file) is a panic here, not SIGBUS:
	// execute turns it into the command's error.
	mmap.Guard()
	fillSetup()
	// Commands print through cmd.OutOrStdout(): buffered, a backtrace of
	// every task is hundreds of thousands of lines, not as many writes.
	// (The DAP server writes its messages to os.Stdout itself.)
	out := bufio.NewWriterSize(os.Stdout, 1<<16)
	root := newRootCmd()
	root.SetOut(out)
	err := execute(root)
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	// A file that could not be mapped (ulimit -v): its answers are missing.
	for _, line := range mmap.Failures() {
		fmt.Fprintln(os.Stderr, "dsecore: warning:", line)
	}
	// A damaged cache file was rebuilt: said once.
	for _, line := range cachefile.Warnings() {
		fmt.Fprintln(os.Stderr, "dsecore: warning:", line)
	}
	// Answers read from a file that changed meanwhile may not be its
	// answers: say so, whatever the command printed.
	for _, line := range changedFiles() {
		file, _, _ := strings.Cut(line, ": changed while being read")
		if err == nil || !strings.HasPrefix(err.Error(), file+": ") {
			fmt.Fprintln(os.Stderr, "dsecore: warning:", line)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dsecore:", err)
		os.Exit(1)
	}
	// The answer is out: the caches it did without are written by a
	// background run.
	startFill()
}

// execute runs the command. A fault of a mapped file that changed, or any
// panic while a file the command read has changed (a decoder meeting bytes
// other than those checked), is the command's error naming the file;
// other panics are bugs and go on.
func execute(root *cobra.Command) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if fe := mmap.AsFault(r); fe != nil {
				err = fe
				return
			}
			if ch := changedFiles(); len(ch) > 0 {
				err = fmt.Errorf("%s (and then: %v)", strings.Join(ch, "; "), r)
				return
			}
			panic(r)
		}
	}()
	return root.Execute()
}
