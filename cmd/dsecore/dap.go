package main

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/dsecore/dsecore/internal/mmap"
	"github.com/dsecore/dsecore/server"
	"github.com/spf13/cobra"
)

func newDapCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dap",
		Short: "Serve the Debug Adapter Protocol (stdio, or TCP with --listen) for VS Code and any DAP client",
		Long: `dap speaks the Debug Adapter Protocol on stdin/stdout, or on TCP with
--listen (loopback unless another address is named). A client's launch (or
attach) request names the core: {"coreFile": "core", "program": "bin/ceph-dse",
"solibSearchPath": [...], "logFiles": [...], "showTasks": "all"}. Nothing
runs: the session stops once, on the crash, with every thread and coroutine
task, their stacks, variables, registers and the fault analysis.

The flags are the defaults of every session the server opens (a launch's
arguments override them): profiles, search paths, debug directories,
debuginfod (DEBUGINFOD_URLS). Coroutine discovery and the fault analysis
run when a request needs them, with progress events.`,
		Example: `  dsecore dap
  dsecore dap --listen 127.0.0.1:4711`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, _ := cmd.Flags().GetString("listen")
			base := sessionOptions("")
			if addr == "" {
				return server.ServeWith(os.Stdin, os.Stdout, base)
			}
			addr = listenAddr(addr)
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "dsecore dap: listening on %s\n", l.Addr())
			if host, _, _ := net.SplitHostPort(addr); !isLoopback(host) {
				fmt.Fprintf(cmd.ErrOrStderr(), "dsecore dap: warning: %s is not a loopback address: anyone who can reach it can read the core's memory\n", host)
			}
			for {
				c, err := l.Accept()
				if err != nil {
					return err
				}
				go func() {
					// The connection's requests read mapped files: a
					// fault is a panic its request's recovery answers,
					// not the end of every session (mmap.Guard).
					mmap.Guard()
					defer c.Close()
					if err := server.ServeWith(c, c, base); err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "dsecore dap: %v\n", err)
					}
				}()
			}
		},
	}
	cmd.Flags().String("listen", "", "serve on TCP at this address (host:port; \":port\" or a bare port means 127.0.0.1)")
	addCoreFlags(cmd)
	addAnalysisFlags(cmd)
	return cmd
}

// listenAddr completes a --listen value: a bare port or ":port" listens on
// the loopback address only.
func listenAddr(addr string) string {
	if !strings.Contains(addr, ":") {
		return "127.0.0.1:" + addr
	}
	if strings.HasPrefix(addr, ":") {
		return "127.0.0.1" + addr
	}
	return addr
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
