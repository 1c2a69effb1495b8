package server

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Peer is who is on the other end of a connection, as the kernel says.
type Peer struct {
	UID   int    // -1: not known
	Local bool   // on this machine (a Unix socket, or a TCP socket found in /proc/net)
	How   string // how the uid was found: "SO_PEERCRED", "/proc/net/tcp", ...
}

// PeerOf finds who is on the other end of c: SO_PEERCRED on a Unix socket
// (as ssh-agent and the docker daemon check theirs); on TCP, the owner of
// the peer's own socket in /proc/net/tcp or /proc/net/tcp6 (as delve's
// --only-same-user does), the socket whose local address is c's remote
// address and whose remote address is c's local one. A TCP peer not found
// there is on another machine (Local false) unless its address is a
// loopback one, which is an error: a local peer whose owner cannot be
// told.
func PeerOf(c net.Conn) (Peer, error) {
	switch c := c.(type) {
	case *net.UnixConn:
		raw, err := c.SyscallConn()
		if err != nil {
			return Peer{UID: -1}, err
		}
		var cred *unix.Ucred
		var serr error
		if err := raw.Control(func(fd uintptr) { cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil {
			return Peer{UID: -1}, err
		}
		if serr != nil {
			return Peer{UID: -1}, fmt.Errorf("SO_PEERCRED: %w", serr)
		}
		return Peer{UID: int(cred.Uid), Local: true, How: "SO_PEERCRED"}, nil
	case *net.TCPConn:
		remote, _ := c.RemoteAddr().(*net.TCPAddr)
		local, _ := c.LocalAddr().(*net.TCPAddr)
		if remote == nil || local == nil {
			return Peer{UID: -1}, errors.New("not a TCP connection")
		}
		for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
			uid, found, err := socketOwner(file, remote, local)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return Peer{UID: -1}, err
			}
			if found {
				return Peer{UID: uid, Local: true, How: file}, nil
			}
		}
		if remote.IP.IsLoopback() {
			return Peer{UID: -1, Local: true}, fmt.Errorf("the socket of %s is not in /proc/net/tcp or tcp6 (gone already?): its owner cannot be told", remote)
		}
		return Peer{UID: -1}, nil
	}
	return Peer{UID: -1}, fmt.Errorf("a %T: neither TCP nor a Unix socket", c)
}

// socketOwner finds, in a /proc/net/tcp-format file, the socket whose
// local address is local and remote address remote, and returns its uid.
func socketOwner(file string, local, remote *net.TCPAddr) (uid int, found bool, err error) {
	f, err := os.Open(file)
	if err != nil {
		return -1, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the heading
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
		fs := strings.Fields(sc.Text())
		if len(fs) < 8 {
			continue
		}
		l, lok := procAddr(fs[1])
		r, rok := procAddr(fs[2])
		if !lok || !rok || !sameAddr(l, local) || !sameAddr(r, remote) {
			continue
		}
		u, err := strconv.Atoi(fs[7])
		if err != nil {
			return -1, false, fmt.Errorf("%s: uid %q: %v", file, fs[7], err)
		}
		return u, true, nil
	}
	return -1, false, sc.Err()
}

// procAddr decodes an address of /proc/net/tcp{,6}: the IP as the kernel
// prints its words (%08X each, in the machine's byte order), ":", the
// port in hex.
func procAddr(s string) (*net.TCPAddr, bool) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	if !ok || (len(ipHex) != 8 && len(ipHex) != 32) {
		return nil, false
	}
	raw, err := hex.DecodeString(ipHex)
	if err != nil {
		return nil, false
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(ip[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return nil, false
	}
	return &net.TCPAddr{IP: ip, Port: int(port)}, true
}

// sameAddr compares addresses, an IPv4 address equal to its IPv6-mapped
// form (a dual-stack socket's peer in tcp6).
func sameAddr(a, b *net.TCPAddr) bool {
	return a.Port == b.Port && a.IP.Equal(b.IP)
}
