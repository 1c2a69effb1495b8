package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
)

// dapPeerEnv makes the test binary a DAP client of the server at its
// value (TestMain): it sends initialize, then disconnect once answered,
// and prints each message the server sends, one a line, then how the
// connection ended. Run as another uid through setpriv.
const dapPeerEnv = "DSECORE_TEST_DAP_PEER"

func dapPeerMain(addr string) int {
	c, err := dialAddr(addr)
	if err != nil {
		fmt.Printf("connect: %v\n", err)
		return 0
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	c.Write(request(1, "initialize", map[string]any{"adapterID": "peer"}))
	r := bufio.NewReader(c)
	for {
		b, err := dap.ReadBaseMessage(r)
		if err != nil {
			fmt.Printf("end: %v\n", err)
			return 0
		}
		fmt.Printf("%s\n", b)
		if strings.Contains(string(b), `"command":"initialize"`) {
			c.Write(request(2, "disconnect", nil))
		}
	}
}

// peerBin is a copy of the test binary that uid 65534 may run (the test
// binary's own directory is private to root).
var peerBin = sync.OnceValues(func() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "dsecore-peer-")
	if err != nil {
		return "", err
	}
	os.Chmod(dir, 0o755)
	b, err := os.ReadFile(self)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "peer.test")
	return p, os.WriteFile(p, b, 0o755)
})

// runPeer runs the peer client against addr, as uid and gid 65534
// (setpriv, util-linux's) when asNobody, and returns what it printed.
func runPeer(t *testing.T, addr string, asNobody bool) string {
	t.Helper()
	bin, err := peerBin()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{bin}
	if asNobody {
		args = append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), dapPeerEnv+"="+addr)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return string(out)
}

// served reports whether a peer's transcript has a successful initialize.
func served(out string) bool {
	return strings.Contains(out, `"success":true,"command":"initialize"`)
}

// socketDir is a directory every user may enter, for a Unix socket.
func socketDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "dsecore-sock-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestDAPOtherUsers: a server on a socket serves only its own user. On TCP
// loopback another uid's connection (found in /proc/net/tcp) is refused
// with an important output event, a terminated event and a log line; on a
// Unix socket (mode 0600) it cannot connect at all, and should the mode
// let it, SO_PEERCRED refuses it; --allow-other-users serves it, on both,
// and says so. The server's own user is served throughout. Before, uid
// 65534 was served on loopback.
func TestDAPOtherUsers(t *testing.T) {
	const refused = `connection refused: the connection is uid 65534's`
	t.Run("tcp", func(t *testing.T) {
		srv := startDAPServer(t, "--listen", "127.0.0.1:0")
		out := runPeer(t, srv.Addr, true)
		if served(out) || !strings.Contains(out, refused+" (/proc/net/tcp), the server serves only its own user, uid 0") ||
			!strings.Contains(out, `"event":"terminated"`) {
			t.Errorf("uid 65534 on loopback:\n%s", out)
		}
		srv.waitLog("refused: the connection is uid 65534's (/proc/net/tcp)", 1)
		if out := runPeer(t, srv.Addr, false); !served(out) {
			t.Errorf("the server's own user on loopback:\n%s", out)
		}
	})
	t.Run("unix", func(t *testing.T) {
		sock := filepath.Join(socketDir(t), "dap.sock")
		srv := startDAPServer(t, "--listen", "unix:"+sock)
		if st, err := os.Stat(sock); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("the socket: %v %v", st.Mode(), err)
		}
		if out := runPeer(t, srv.Addr, true); !strings.Contains(out, "connect: permission denied") {
			t.Errorf("uid 65534 on a 0600 socket:\n%s", out)
		}
		// Had the mode let it connect, its credentials refuse it.
		os.Chmod(sock, 0o666)
		if out := runPeer(t, srv.Addr, true); served(out) || !strings.Contains(out, refused+" (SO_PEERCRED)") {
			t.Errorf("uid 65534 on a 0666 socket:\n%s", out)
		}
		srv.waitLog("refused: the connection is uid 65534's (SO_PEERCRED)", 1)
		if out := runPeer(t, srv.Addr, false); !served(out) {
			t.Errorf("the server's own user on the socket:\n%s", out)
		}
	})
	t.Run("a stray config file", func(t *testing.T) {
		// Who may connect is the command line's to say: a dsecore.yaml
		// (or DSECORE_ALLOW_OTHER_USERS) where the server starts does not.
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "dsecore.yaml"), []byte("allow-other-users: true\nroot: [/]\n"), 0o644)
		t.Setenv("DSECORE_ALLOW_OTHER_USERS", "true")
		srv := startDAPServerIn(t, dir, "--listen", "127.0.0.1:0")
		if out := runPeer(t, srv.Addr, true); served(out) || !strings.Contains(out, refused) {
			t.Errorf("uid 65534 with allow-other-users in dsecore.yaml and the environment:\n%s", out)
		}
		if n := srv.count("--allow-other-users: every local user"); n != 0 {
			t.Errorf("the server says it serves every user")
		}
	})
	t.Run("allowed", func(t *testing.T) {
		srv := startDAPServer(t, "--listen", "127.0.0.1:0", "--allow-other-users")
		srv.waitLog("WARNING: --allow-other-users: every local user may connect", 1)
		if out := runPeer(t, srv.Addr, true); !served(out) {
			t.Errorf("uid 65534 on loopback with --allow-other-users:\n%s", out)
		}
		sock := filepath.Join(socketDir(t), "dap.sock")
		usrv := startDAPServer(t, "--listen", "unix:"+sock, "--allow-other-users")
		if st, err := os.Stat(sock); err != nil || st.Mode().Perm() != 0o666 {
			t.Fatalf("the socket with --allow-other-users: %v %v", st.Mode(), err)
		}
		if out := runPeer(t, usrv.Addr, true); !served(out) {
			t.Errorf("uid 65534 on a Unix socket with --allow-other-users:\n%s", out)
		}
	})
}

// runDap runs dsecore dap with args and returns its exit code and stderr
// (a server that refuses to start exits at once; a minute is a failure).
func runDap(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, dsecoreBin, append([]string{"dap"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("dsecore dap %v still running after a minute:\n%s", args, stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	return code, stderr.String()
}

// TestDAPAuthToken: beyond loopback the server starts only with a token
// (a file only its owner may read, of at least 32 bytes); a launch without
// the token, or with a wrong one, is refused and ends that connection; the
// right one is served. Before, 0.0.0.0 started with a warning and served
// anyone.
func TestDAPAuthToken(t *testing.T) {
	dir := t.TempDir()
	token := strings.Repeat("3f9a", 16)
	file := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	good := file("token", token+"\n", 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "0.0.0.0:0"}, "is not a loopback address: anyone who can reach it could read the cores this server may read; start it with --auth-token-file FILE"},
		{[]string{"--listen", "0.0.0.0:0", "--auth-token-file", file("open", token, 0o644)}, "mode 0644 lets others read the token"},
		{[]string{"--listen", "0.0.0.0:0", "--auth-token-file", file("short", "abc", 0o600)}, "a token of 3 bytes: at least 32 are needed"},
		{[]string{"--listen", "0.0.0.0:0", "--auth-token-file", filepath.Join(dir, "missing")}, "no such file"},
	} {
		if code, stderr := runDap(t, c.args...); code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("dsecore dap %v: exit %d, want 1 and %q:\n%s", c.args, code, c.want, stderr)
		}
	}

	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	srv := startDAPServer(t, "--listen", "0.0.0.0:0", "--auth-token-file", good)
	srv.waitLog("warning: 0.0.0.0:0 is not a loopback address", 1)
	srv.Addr = strings.Replace(srv.Addr, "0.0.0.0", "127.0.0.1", 1)
	for _, c := range []struct {
		name, token, want string
	}{
		{"no token", "", "launch: no authToken, or not the server's"},
		{"a wrong token", strings.Repeat("3f9b", 16), "launch: wrong authToken"},
		{"the token with a byte more", token + "0", "launch: wrong authToken"},
	} {
		conn := srv.dial()
		conn.Write(request(1, "initialize", map[string]any{"adapterID": "x"}))
		args := map[string]any{"coreFile": sc.Core, "program": sc.Exe}
		if c.token != "" {
			args["authToken"] = c.token
		}
		conn.Write(request(2, "launch", args))
		msgs := readAll(t, conn)
		if !has(msgs, `"request_seq":2`, `"success":false`, c.want) || !has(msgs, `"event":"terminated"`) || has(msgs, `"event":"initialized"`) {
			t.Errorf("%s: %v", c.name, msgs)
		}
	}
	srv.waitLog("refused launch: launch: wrong authToken", 2)
	c := srv.client()
	launchField(t, c, sc.Core, sc.Exe, map[string]any{"authToken": token})
	goodSession(t, c, intField(t, sc.Expected, "crash_lwp"), "with the token")
	c.ok("disconnect", nil)
}

// copyFileMode copies src to dst with mode.
func copyFileMode(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

// TestDAPRoots: with --root (repeatable) every path a client names must
// resolve, symlinks and ".." followed, into one of the trees: a core
// outside (named directly, through "..", through a symlink), a program
// outside, a log directory holding a symlink out, are each refused with
// an error naming the rule, and the session stays open for a launch that
// keeps to the trees. Before, any file the server could read was opened.
func TestDAPRoots(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	top := t.TempDir()
	root, outside := filepath.Join(top, "root"), filepath.Join(top, "outside")
	for _, d := range []string{root, outside, filepath.Join(root, "logs")} {
		os.MkdirAll(d, 0o755)
	}
	copyFileMode(t, sc.Core, filepath.Join(root, "core"), 0o600)
	os.Symlink(sc.Core, filepath.Join(root, "core-link"))
	os.Symlink(filepath.Join(outside, "secret.log"), filepath.Join(root, "logs", "ceph-dse.log"))
	os.WriteFile(filepath.Join(outside, "secret.log"), []byte("key=hunter2\n"), 0o600)
	bin := filepath.Dir(sc.Exe)
	srv := startDAPServer(t, "--listen", "127.0.0.1:0", "--root", root, "--root", bin)
	srv.waitLog("files: the server reads only files under --root "+root+", "+bin, 1)

	c := srv.client()
	c.ok("initialize", map[string]any{"adapterID": "roots"})
	rule := "the server reads only files under --root " + root + ", " + bin
	for _, x := range []struct {
		name string
		args map[string]any
		want string
	}{
		{"a core outside", map[string]any{"coreFile": sc.Core}, "coreFile " + named(t, sc.Core) + ": outside every --root: " + rule},
		{"through ..", map[string]any{"coreFile": root + "/../outside/../../" + filepath.Base(top) + "/outside/secret.log"}, "outside every --root"},
		{"through a symlink", map[string]any{"coreFile": filepath.Join(root, "core-link")}, "coreFile " + filepath.Join(root, "core-link") + " (" + mustEval(t, sc.Core) + "): outside every --root"},
		{"a program outside", map[string]any{"coreFile": filepath.Join(root, "core"), "program": filepath.Join(outside, "..", "outside")}, "program "},
		{"a log directory's symlink out", map[string]any{"coreFile": filepath.Join(root, "core"), "program": sc.Exe, "logFiles": []string{filepath.Join(root, "logs")}},
			"logFiles (a file of a named directory) " + filepath.Join(root, "logs", "ceph-dse.log") + " (" + filepath.Join(outside, "secret.log") + "): outside every --root"},
		{"a missing file", map[string]any{"coreFile": filepath.Join(root, "nothing")}, "coreFile " + filepath.Join(root, "nothing") + ": no such file or directory: " + rule},
	} {
		r := c.call("launch", x.args)
		if r.GetResponse().Success || !strings.Contains(r.GetResponse().Message, x.want) {
			t.Errorf("%s: %+v, want an error with %q", x.name, r.GetResponse(), x.want)
		}
		if e, ok := r.(*dap.ErrorResponse); ok && e.Body.Error != nil && e.Body.Error.Id != 3010 {
			t.Errorf("%s: error id %d, want 3010", x.name, e.Body.Error.Id)
		}
	}
	srv.waitLog("refused launch: coreFile "+filepath.Join(root, "core-link"), 1)
	// Inside the trees, the same session opens the core.
	c.ok("launch", map[string]any{"coreFile": filepath.Join(root, "core"), "program": sc.Exe, "solibSearchPath": []string{bin}})
	c.waitEvent("initialized")
	c.ok("configurationDone", nil)
	c.waitEvent("stopped")
	goodSession(t, c, intField(t, sc.Expected, "crash_lwp"), "inside the roots")
	c.ok("disconnect", nil)
}

// named is a path as a refusal names it: with what it resolves to when
// that differs.
func named(t *testing.T, p string) string {
	if r := mustEval(t, p); r != p {
		return p + " (" + r + ")"
	}
	return p
}

func mustEval(t *testing.T, p string) string {
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDAPOwnFiles: without --root, a server on a socket reads only files
// its user owns or anyone may read: another user's private core (mode
// 0600, or in a directory only that user may enter) is refused, naming
// the rule; made world-readable it is served; over stdio (the client is
// the user) the private one is served. Before, a socket's client read
// every file the server could.
func TestDAPOwnFiles(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	core := filepath.Join(dir, "core")
	copyFileMode(t, sc.Core, core, 0o600)
	private := filepath.Join(dir, "private")
	os.Mkdir(private, 0o700)
	inPrivate := filepath.Join(private, "core")
	copyFileMode(t, sc.Core, inPrivate, 0o644)
	for _, p := range []string{core, private, inPrivate} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	srv := startDAPServer(t, "--listen", "127.0.0.1:0")
	c := srv.client()
	c.ok("initialize", map[string]any{"adapterID": "own"})
	rule := "a server on a socket reads only files its user (uid 0) owns or that anyone may read"
	for _, x := range []struct{ core, want string }{
		{core, "coreFile " + core + ": owned by uid 65534 and not readable by others (mode 0600): " + rule},
		{inPrivate, "coreFile " + inPrivate + ": in " + private + ", owned by uid 65534 and not searchable by others (mode 0700): " + rule},
	} {
		r := c.call("launch", map[string]any{"coreFile": x.core, "program": sc.Exe})
		if r.GetResponse().Success || !strings.Contains(r.GetResponse().Message, x.want) {
			t.Errorf("%s: %+v, want an error with %q", x.core, r.GetResponse(), x.want)
		}
	}
	// Over stdio the client is the user: the private core opens.
	s := startDAP(t)
	launchField(t, s, core, sc.Exe, nil)
	s.ok("disconnect", nil)
	// Readable by anyone, it is served on the socket too.
	os.Chmod(core, 0o644)
	launchField(t, c, core, sc.Exe, nil)
	goodSession(t, c, intField(t, sc.Expected, "crash_lwp"), "a world-readable core")
	c.ok("disconnect", nil)
}
