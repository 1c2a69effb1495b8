package unwind_test

import (
	"encoding/binary"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/dsecore/dsecore/coreparse/unwind"
)

// TestDecodeSigInfo: the siginfo's union read as the kernel's
// asm-generic/siginfo.h lays it out on x86-64 (si_signo, si_errno, si_code,
// then the union at 16) and chooses its member: _sigfault's si_addr for a
// fault the kernel raised (SI_FROMKERNEL: si_code > 0, and not SI_KERNEL),
// _kill's si_pid and si_uid for a signal a process sent (SI_FROMUSER:
// si_code <= 0: SI_USER 0, SI_QUEUE -1, SI_TKILL -6) and _sigchld's for
// SIGCHLD (CLD_EXITED 1); a fault signal with SI_KERNEL carries neither.
// Fewer than 24 bytes decode to nothing.
func TestDecodeSigInfo(t *testing.T) {
	enc := func(signo, code int32) []byte {
		b := make([]byte, 128)
		le := binary.LittleEndian
		le.PutUint32(b, uint32(signo))
		le.PutUint32(b[4:], 0)
		le.PutUint32(b[8:], uint32(code))
		le.PutUint64(b[16:], 0x0000_03e8_0000_1234) // si_addr, or si_pid 0x1234 and si_uid 1000
		return b
	}
	const addr, pid, uid = 0x0000_03e8_0000_1234, 0x1234, 1000
	for _, c := range []struct {
		name        string
		signo, code int32
		want        unwind.SigInfo
	}{
		{"SIGSEGV SEGV_MAPERR", 11, 1, unwind.SigInfo{Signo: 11, Code: 1, Addr: addr}},
		{"SIGTRAP TRAP_BRKPT", 5, 1, unwind.SigInfo{Signo: 5, Code: 1, Addr: addr}},
		{"SIGILL ILL_ILLOPN", 4, 2, unwind.SigInfo{Signo: 4, Code: 2, Addr: addr}},
		{"SIGBUS BUS_ADRERR", 7, 2, unwind.SigInfo{Signo: 7, Code: 2, Addr: addr}},
		{"SIGFPE FPE_INTDIV", 8, 1, unwind.SigInfo{Signo: 8, Code: 1, Addr: addr}},
		{"SIGSEGV SI_KERNEL", 11, 0x80, unwind.SigInfo{Signo: 11, Code: 0x80}},
		{"SIGSEGV SI_USER (kill)", 11, 0, unwind.SigInfo{Signo: 11, Code: 0, PID: pid, UID: uid}},
		{"SIGABRT SI_TKILL", 6, -6, unwind.SigInfo{Signo: 6, Code: -6, PID: pid, UID: uid}},
		{"SIGUSR1 SI_QUEUE", 10, -1, unwind.SigInfo{Signo: 10, Code: -1, PID: pid, UID: uid}},
		{"SIGCHLD CLD_EXITED", 17, 1, unwind.SigInfo{Signo: 17, Code: 1, PID: pid, UID: uid}},
		{"SIGTERM SI_KERNEL", 15, 0x80, unwind.SigInfo{Signo: 15, Code: 0x80}},
	} {
		b := enc(c.signo, c.code)
		if got := unwind.DecodeSigInfo(b); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
		if got := unwind.DecodeSigInfo(b[:24]); got != c.want {
			t.Errorf("%s, 24 bytes: %+v, want %+v", c.name, got, c.want)
		}
		if got := unwind.DecodeSigInfo(b[:23]); got != (unwind.SigInfo{}) {
			t.Errorf("%s, 23 bytes: %+v, want nothing", c.name, got)
		}
	}
}

// shortMem answers every read one byte short, without an error (a Memory
// that does not keep io.ReaderAt's rule).
type shortMem struct{ m *fakeMem }

func (s shortMem) ReadAt(p []byte, addr uint64) (int, error) {
	n, err := s.m.ReadAt(p[:len(p)-1], addr)
	return n, err
}

func (s shortMem) ReadUint64(addr uint64) (uint64, error) { return s.m.ReadUint64(addr) }

// TestSignalFrameShortRead: a ucontext or siginfo read short without an
// error is refused, not decoded from the zeros left in the buffer.
func TestSignalFrameShortRead(t *testing.T) {
	m := newFakeMem()
	m.put(0x10000, make([]byte, 4096))
	if sf, err := unwind.ReadSignalFrame(shortMem{m}, 0x10000); err == nil {
		t.Errorf("ReadSignalFrame of a short read: %+v, want an error", sf)
	}
	if si, err := unwind.ReadSigInfo(shortMem{m}, 0x10000); err == nil {
		t.Errorf("ReadSigInfo of a short read: %+v, want an error", si)
	}
	if _, err := unwind.ReadSignalFrame(m, 0x10000); err != nil {
		t.Errorf("ReadSignalFrame of the whole frame: %v", err)
	}
}

// TestSigtrampAtZero: the trampoline's syscall 7 bytes after its start is
// recognised down to a trampoline at address 0 (pc 7), the lowest pc
// from which the start can be found.
func TestSigtrampAtZero(t *testing.T) {
	m := newFakeMem()
	m.put(0, []byte{0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05}) // mov $15,%rax; syscall
	for _, pc := range []uint64{0, 7} {
		if start, ok := unwind.SigtrampStart(m, pc); !ok || start != 0 {
			t.Errorf("SigtrampStart(%d) = %#x, %v; want 0, true", pc, start, ok)
		}
	}
	if start, ok := unwind.SigtrampStart(m, 6); ok {
		t.Errorf("SigtrampStart(6) = %#x, true: not a trampoline's instruction", start)
	}
}

// TestSigCodesMatchKernelHeader: the package's si_code constants are the
// kernel's (asm-generic/siginfo.h, linux-libc-dev).
func TestSigCodesMatchKernelHeader(t *testing.T) {
	const header = "/usr/include/asm-generic/siginfo.h"
	b, err := os.ReadFile(header)
	if err != nil {
		t.Fatalf("the kernel's siginfo header (linux-libc-dev): %v", err)
	}
	defs := map[string]int64{}
	for _, m := range regexp.MustCompile(`(?m)^#\s*define\s+((?:SI|SEGV)_[A-Z_]+)\s+(-?(?:0x)?[0-9a-fA-F]+)\b`).FindAllStringSubmatch(string(b), -1) {
		if v, err := strconv.ParseInt(m[2], 0, 32); err == nil {
			defs[m[1]] = v
		}
	}
	for name, v := range map[string]int64{"SI_USER": unwind.SI_USER, "SI_KERNEL": unwind.SI_KERNEL, "SI_QUEUE": unwind.SI_QUEUE,
		"SI_TKILL": unwind.SI_TKILL, "SEGV_MAPERR": unwind.SEGV_MAPERR, "SEGV_ACCERR": unwind.SEGV_ACCERR} {
		if want, ok := defs[name]; !ok || v != want {
			t.Errorf("%s = %d, %s says %d (%v)", name, v, header, want, ok)
		}
	}
}
