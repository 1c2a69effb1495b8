package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/dsecore/dsecore/server"
	"github.com/spf13/cobra"
)

func newDapCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dap",
		Short: "Serve the Debug Adapter Protocol (stdio, or a socket with --listen) for VS Code and any DAP client",
		Long: `dap speaks the Debug Adapter Protocol on stdin/stdout, or on a socket
with --listen (TCP on loopback unless another address is named, or
unix:PATH). A client's launch (or attach) request names the core:
{"coreFile": "core", "program": "bin/ceph-dse", "solibSearchPath": [...],
"logFiles": [...], "showTasks": "all"}. Nothing runs: the session stops
once, on the crash, with every thread and coroutine task, their stacks,
variables, registers and the fault analysis.

The flags are the defaults of every session the server opens (a launch's
arguments override them): profiles, search paths, debug directories,
debuginfod (DEBUGINFOD_URLS). Coroutine discovery and the fault analysis
run when a request needs them, with progress events.

On a socket the server reads files with its own privileges for clients it
does not fully trust (docs/security.md). By default it serves only its own
user (the peer's socket owner on TCP loopback, SO_PEERCRED on a Unix
socket, created mode 0600; --allow-other-users serves every local user),
and reads only files that user owns or anyone may read (--root DIR
restricts every path a client names to those trees instead). Beyond
loopback it starts only with --auth-token-file: each launch must carry the
file's token as "authToken". Limits (each connection's, never the
server's): a header over 4 KiB, a message over 4 MiB or not complete within
--message-timeout of its first byte end that connection; a session's
evaluate results are held within --max-evaluate-memory; --max-connections
are served at once. --allow-other-users, --auth-token-file and --root
are read from the command line only (not from DSECORE_* or a config file).`,
		Example: `  dsecore dap
  dsecore dap --listen 127.0.0.1:4711
  dsecore dap --listen unix:/run/user/1000/dsecore.sock --root /var/crash
  dsecore dap --listen 0.0.0.0:4711 --auth-token-file ~/.config/dsecore/token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			base := sessionOptions("")
			limits := server.Limits{MessageTimeout: config.GetDuration("message-timeout"), MaxHeldBytes: config.GetInt64("max-evaluate-memory")}
			// Who may connect and what they may read come from the
			// command line only, never from a configuration file or the
			// environment: a stray dsecore.yaml in the directory a server
			// is started in must not widen them. (--root is read from the
			// flag also because viper would split a path at its commas.)
			roots, _ := cmd.Flags().GetStringArray("root")
			allowOthers, _ := cmd.Flags().GetBool("allow-other-users")
			tokenFile, _ := cmd.Flags().GetString("auth-token-file")
			addr := config.GetString("listen")
			stderr := cmd.ErrOrStderr()
			if addr == "" {
				// On stdio the client is the user: no restriction unless
				// --root asks for one.
				paths, err := server.NewPathPolicy(roots, false)
				if err != nil {
					return err
				}
				return server.ServeConfig(os.Stdin, os.Stdout, server.Config{Base: base, Limits: limits, Paths: paths})
			}
			spec := server.ParseListen(addr)
			var token []byte
			if tokenFile != "" {
				var err error
				if token, err = server.ReadToken(tokenFile); err != nil {
					return err
				}
			}
			if !spec.Loopback() && token == nil {
				return errors.New("--listen " + addr + " is not a loopback address: anyone who can reach it could read the cores this server may read; " +
					"start it with --auth-token-file FILE (a random token clients send as the launch argument authToken), or listen on 127.0.0.1 or unix:PATH")
			}
			paths, err := server.NewPathPolicy(roots, true)
			if err != nil {
				return err
			}
			l, err := server.Listen(spec, allowOthers)
			if err != nil {
				return err
			}
			defer l.Close()
			where := l.Addr().String()
			if spec.Network == "unix" {
				where = "unix:" + spec.Address
			}
			fmt.Fprintf(stderr, "dsecore dap: listening on %s\n", where)
			if !spec.Loopback() {
				fmt.Fprintf(stderr, "dsecore dap: warning: %s is not a loopback address: anyone who can reach it and holds the token can read the cores this server may read\n", addr)
			}
			if allowOthers {
				fmt.Fprintf(stderr, "dsecore dap: WARNING: --allow-other-users: every local user may connect and have this server (uid %d) read %s\n", os.Geteuid(), paths.Rule())
			}
			fmt.Fprintf(stderr, "dsecore dap: clients: %s; files: %s\n", clientRule(spec, token != nil, allowOthers), paths.Rule())
			srv := &server.Listener{Config: server.Config{Base: base, Limits: limits, Token: token, Paths: paths},
				MaxConnections: config.GetInt("max-connections"), AllowOtherUsers: allowOthers, Log: stderr}
			return srv.Serve(l)
		},
	}
	f := cmd.Flags()
	f.String("listen", "", "serve on a socket: host:port (\":port\" or a bare port means 127.0.0.1), or unix:PATH")
	f.Bool("allow-other-users", false, "serve local clients of every user, not only the server's own (loudly)")
	f.String("auth-token-file", "", "file holding a token (at least 32 bytes, mode 0600) every launch must send as authToken; required beyond loopback")
	f.StringArray("root", nil, "directory tree a client may name files in (repeatable; default on a socket: files the server's user owns or anyone may read)")
	f.Int("max-connections", server.DefaultMaxConnections, "connections served at once; the next is refused with a message")
	f.Duration("message-timeout", server.DefaultMessageTimeout, "on a socket: the time a client has to complete a message it started, to send its first, and to take each reply")
	f.Int64("max-evaluate-memory", server.DefaultMaxHeldBytes, "bytes a session's evaluate and variables results may keep alive; past it evaluate answers an error")
	addCoreFlags(cmd)
	addAnalysisFlags(cmd)
	return cmd
}

// clientRule says who the server serves, for its first lines.
func clientRule(spec server.ListenSpec, token, allowOthers bool) string {
	who := "its own user only"
	if allowOthers {
		who = "every local user"
	}
	if token {
		who += ", and each launch must carry the token"
	}
	if !spec.Loopback() {
		who += "; peers on other machines with the token"
	}
	return who
}
