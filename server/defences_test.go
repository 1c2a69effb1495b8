package server

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-dap"
)

// TestProcAddr: addresses of /proc/net/tcp and tcp6 as the kernel prints
// them on this (little-endian) machine, and an IPv4 peer of a dual-stack
// socket matching its mapped form.
func TestProcAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1267":                         "127.0.0.1:4711",
		"00000000000000000000000001000000:1267": "[::1]:4711",
		"0000000000000000FFFF00000100007F:0016": "127.0.0.1:22",
		"0A01A8C0:0050":                         "192.168.1.10:80",
	} {
		a, ok := procAddr(in)
		if !ok || a.String() != want {
			t.Errorf("procAddr(%s) = %v %v, want %s", in, a, ok, want)
		}
	}
	for _, bad := range []string{"", "0100007F", "0100007:1267", "ZZ00007F:1267", "0100007F:123456"} {
		if _, ok := procAddr(bad); ok {
			t.Errorf("procAddr(%q) accepted", bad)
		}
	}
	v4, _ := procAddr("0100007F:1267")
	mapped, _ := procAddr("0000000000000000FFFF00000100007F:1267")
	if !sameAddr(v4, mapped) {
		t.Errorf("127.0.0.1 and ::ffff:127.0.0.1 differ")
	}
}

// TestSocketOwner: the peer's socket is the line whose local address is
// the peer's and remote address ours; its uid is the 8th field.
func TestSocketOwner(t *testing.T) {
	f := filepath.Join(t.TempDir(), "tcp")
	os.WriteFile(f, []byte(`  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1267 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1267 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
   2: 0100007F:D431 0100007F:1267 01 00000000:00000000 00:00000000 00000000 65534        0 3 1 0 20 4 30 10 -1
`), 0o644)
	server := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4711}
	client := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0xd431}
	if uid, found, err := socketOwner(f, client, server); err != nil || !found || uid != 65534 {
		t.Errorf("the client's socket: uid %d, found %v, %v", uid, found, err)
	}
	if _, found, _ := socketOwner(f, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, server); found {
		t.Errorf("a socket that is not there was found")
	}
}

// TestPeerOf: on this machine the kernel names the peer's owner, on TCP
// loopback (/proc/net/tcp) and on a Unix socket (SO_PEERCRED).
func TestPeerOf(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		addr := "127.0.0.1:0"
		if network == "unix" {
			addr = filepath.Join(t.TempDir(), "s")
		}
		l, err := net.Listen(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		c, err := net.Dial(network, l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		p, err := PeerOf(s)
		if err != nil || !p.Local || p.UID != os.Geteuid() {
			t.Errorf("%s: %+v %v", network, p, err)
		}
	}
}

// readOne reads one message from what a client sent, with limits.
func readOne(t *testing.T, sent string, lim Limits) ([]byte, error) {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { a.Write([]byte(sent)) }()
	return newMsgReader(b, lim.WithDefaults()).next()
}

// TestMessageLimits: a header longer than MaxHeaderBytes, a length over
// MaxMessageBytes, a header or content not complete within
// MessageTimeout: each a LimitError naming the limit; a message within
// them is read.
func TestMessageLimits(t *testing.T) {
	ok := `{"seq":1,"type":"request","command":"initialize"}`
	var msg bytes.Buffer
	dap.WriteBaseMessage(&msg, []byte(ok))
	if b, err := readOne(t, msg.String(), Limits{}); err != nil || string(b) != ok {
		t.Errorf("a good message: %q %v", b, err)
	}
	short := Limits{MessageTimeout: 50 * time.Millisecond}
	for _, c := range []struct {
		name, sent string
		lim        Limits
		limit, msg string
	}{
		{"a long header", strings.Repeat("X", 5000), Limits{}, "MaxHeaderBytes", "longer than 4096 bytes"},
		{"a long header line with its end", "Content-Length: 1" + strings.Repeat("0", 5000) + "\r\n\r\n", Limits{}, "MaxHeaderBytes", "longer than 4096 bytes"},
		{"a large length", "Content-Length: 4194305\r\n\r\n", Limits{}, "MaxMessageBytes", "4194305 bytes: the limit is 4194304"},
		{"a smaller limit", "Content-Length: 1001\r\n\r\n", Limits{MaxMessageBytes: 1000}, "MaxMessageBytes", "the limit is 1000"},
		{"a dribbled header", "Content-Le", short, "MessageTimeout", "header did not arrive within 50ms"},
		{"half the content", "Content-Length: 10\r\n\r\n{\"se", short, "MessageTimeout", "content did not arrive within 50ms"},
	} {
		_, err := readOne(t, c.sent, c.lim)
		var le *LimitError
		if !errors.As(err, &le) || le.Limit != c.limit || !strings.Contains(le.Msg, c.msg) {
			t.Errorf("%s: %v, want %s: %q", c.name, err, c.limit, c.msg)
		}
	}
	// Nothing at all after connecting: the first message's deadline.
	a, b := net.Pipe()
	defer a.Close()
	_, err := newMsgReader(b, short.WithDefaults()).next()
	var le *LimitError
	if !errors.As(err, &le) || !strings.Contains(le.Msg, "no message within 50ms of connecting") {
		t.Errorf("an idle connection: %v", err)
	}
}

// TestPathPolicy: roots after symlinks and ".."; the own-files rule on
// another uid's private file and directory.
func TestPathPolicy(t *testing.T) {
	top := t.TempDir()
	root, out := filepath.Join(top, "root"), filepath.Join(top, "out")
	os.MkdirAll(root, 0o755)
	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(root, "core"), nil, 0o600)
	os.WriteFile(filepath.Join(out, "core"), nil, 0o600)
	os.Symlink(filepath.Join(out, "core"), filepath.Join(root, "link"))
	p, err := NewPathPolicy([]string{root}, true)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		filepath.Join(root, "core"): "",
		root + "/../root/core":      "",
		filepath.Join(root, "link"): "outside every --root",
		root + "/../out/core":       "outside every --root",
		filepath.Join(root, "none"): "no such file or directory",
		filepath.Join(out, "core"):  "outside every --root",
		"/":                         "outside every --root",
		root + "/" + strings.Repeat("../", 40) + "etc": "outside every --root",
	} {
		err := p.Check("coreFile", path)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
	if _, err := NewPathPolicy([]string{filepath.Join(top, "none")}, true); err == nil {
		t.Errorf("a root that does not exist was taken")
	}
	if p, _ := NewPathPolicy(nil, false); p != nil {
		t.Errorf("no roots, no own-files rule: %+v", p)
	}

	own, _ := NewPathPolicy(nil, true)
	theirs := filepath.Join(out, "theirs")
	os.WriteFile(theirs, nil, 0o600)
	os.Chown(theirs, 65534, 65534)
	if err := own.Check("coreFile", theirs); err == nil || !strings.Contains(err.Error(), "owned by uid 65534 and not readable by others (mode 0600)") {
		t.Errorf("another uid's private file: %v", err)
	}
	os.Chmod(theirs, 0o644)
	if err := own.Check("coreFile", theirs); err != nil {
		t.Errorf("another uid's world-readable file: %v", err)
	}
	os.Chown(out, 65534, 65534)
	os.Chmod(out, 0o700)
	if err := own.Check("coreFile", theirs); err == nil || !strings.Contains(err.Error(), "not searchable by others (mode 0700)") {
		t.Errorf("a world-readable file in another uid's private directory: %v", err)
	}
}

// TestReadToken: a token file must be private, regular and long enough.
func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), mode)
		os.Chmod(p, mode)
		return p
	}
	tok := strings.Repeat("ab", 16)
	if got, err := ReadToken(write("ok", "  "+tok+"\n", 0o600)); err != nil || string(got) != tok {
		t.Errorf("a good token: %q %v", got, err)
	}
	for name, c := range map[string]struct {
		path, want string
	}{
		"group-readable": {write("g", tok, 0o640), "mode 0640 lets others read the token"},
		"short":          {write("s", "abc", 0o600), "a token of 3 bytes"},
		"a directory":    {dir, "not a regular file"},
		"too long":       {write("l", strings.Repeat("a", 5000), 0o600), "longer than 4096 bytes"},
	} {
		if _, err := ReadToken(c.path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	theirs := write("theirs", tok, 0o600)
	os.Chown(theirs, 65534, 65534)
	if _, err := ReadToken(theirs); err == nil || !strings.Contains(err.Error(), "owned by uid 65534, not by the server's user") {
		t.Errorf("another user's token file: %v", err)
	}
	if !tokenOK(tok, []byte(tok)) || tokenOK(tok+"x", []byte(tok)) || tokenOK("", []byte(tok)) {
		t.Errorf("tokenOK")
	}
}
