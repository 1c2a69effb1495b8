package unwind

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// The x86-64 Linux signal frame. When the kernel delivers a signal to a
// handler it pushes struct rt_sigframe (arch/x86/include/asm/sigframe.h):
//
//	struct rt_sigframe {
//		char __user *pretcode;   // return address of the handler: __restore_rt
//		struct ucontext uc;      // 304 bytes
//		struct siginfo info;     // 128 bytes
//		/* fp state follows */
//	};
//
// The handler's ret pops pretcode, so on entry to __restore_rt rsp points
// at uc. struct ucontext (uapi asm-generic/ucontext.h, as used by x86):
//
//	uc_flags  8   @0
//	uc_link   8   @8
//	uc_stack 24   @16   (ss_sp, ss_flags + pad, ss_size)
//	uc_mcontext   @40   struct sigcontext, 256 bytes
//	uc_sigmask 8  @296  (the kernel's sigset_t)
//
// and struct sigcontext (uapi asm/sigcontext.h, x86-64):
//
//	r8 r9 r10 r11 r12 r13 r14 r15 rdi rsi rbp rbx rdx rax rcx rsp rip eflags  (8 bytes each, @0..@136)
//	cs gs fs ss (u16 each, @144), err @152, trapno @160, oldmask @168,
//	cr2 @176, fpstate @184, reserved1[8] @192
//
// gdb reads the same layout (amd64_linux_sc_reg_offset, sigcontext at
// rsp+40 in the trampoline frame). The tests check it on real cores.
const (
	ucMcontext  = 40
	ucSigmask   = 296
	ucontextLen = 304 // struct ucontext; siginfo follows it
	sigcontextN = 256
	siginfoLen  = 128

	scRIP     = 128
	scEflags  = 136
	scCS      = 144
	scErr     = 152
	scTrapno  = 160
	scOldmsk  = 168
	scCR2     = 176
	scFPState = 184
)

// sigcontext slot order → DWARF register.
var scRegs = [...]int{R8, R9, R10, R11, R12, R13, R14, R15, RDI, RSI, RBP, RBX, RDX, RAX, RCX, RSP, RIP}

// restoreRT is __restore_rt: mov $__NR_rt_sigreturn(15),%rax; syscall.
var restoreRT = []byte{0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05}

// SigtrampStart reports whether pc is in the x86-64 Linux rt_sigreturn
// trampoline (at its first instruction or at its syscall), recognising it
// by its code bytes as gdb's amd64_linux_sigtramp_start does, and returns
// the trampoline's address.
func SigtrampStart(m Memory, pc uint64) (uint64, bool) {
	buf := make([]byte, len(restoreRT))
	if n, err := m.ReadAt(buf, pc); err == nil && n == len(buf) && bytes.Equal(buf, restoreRT) {
		return pc, true
	}
	if pc < 7 {
		return 0, false
	}
	if n, err := m.ReadAt(buf[:2], pc); err != nil || n != 2 || buf[0] != 0x0f || buf[1] != 0x05 {
		return 0, false
	}
	if n, err := m.ReadAt(buf, pc-7); err == nil && n == len(buf) && bytes.Equal(buf, restoreRT) {
		return pc - 7, true
	}
	return 0, false
}

// SignalFrame is the kernel's rt_sigframe found on the stack of a
// __restore_rt frame.
type SignalFrame struct {
	UContext uint64 // address of struct ucontext (the trampoline frame's rsp)
	SigInfo  uint64 // address of the kernel's siginfo (UContext + 304)
	Regs     Regs   // the interrupted context: all of rax..r15 and rip, valid

	// The rest of struct sigcontext.
	Eflags         uint64
	CS, GS, FS, SS uint16
	Err            uint64 // page-fault error code (trapno 14): bit 0 protection, 1 write, 2 user, 4 instruction fetch
	Trapno         uint64 // 14 page fault, 13 general protection, 0 divide error, 6 invalid opcode …
	Oldmask        uint64
	CR2            uint64 // the faulting address of a page fault
	FPState        uint64 // address of the saved FPU/XSAVE state (0 when none)
	Sigmask        uint64 // uc_sigmask: the signal mask of the interrupted context
}

// ReadSignalFrame decodes the struct ucontext at uc (the rsp of a
// __restore_rt frame) and the address of the siginfo that follows it.
func ReadSignalFrame(m Memory, uc uint64) (*SignalFrame, error) {
	buf := make([]byte, ucontextLen)
	n, err := m.ReadAt(buf, uc)
	if err == nil && n < len(buf) {
		err = fmt.Errorf("short read")
	}
	if err != nil {
		return nil, fmt.Errorf("reading the signal frame's ucontext at %#x: %w", uc, err)
	}
	le := binary.LittleEndian
	sc := buf[ucMcontext : ucMcontext+sigcontextN]
	sf := &SignalFrame{UContext: uc, SigInfo: uc + ucontextLen}
	for i, r := range scRegs {
		sf.Regs.Set(r, le.Uint64(sc[8*i:]))
	}
	sf.Eflags = le.Uint64(sc[scEflags:])
	sf.CS = le.Uint16(sc[scCS:])
	sf.GS = le.Uint16(sc[scCS+2:])
	sf.FS = le.Uint16(sc[scCS+4:])
	sf.SS = le.Uint16(sc[scCS+6:])
	sf.Err = le.Uint64(sc[scErr:])
	sf.Trapno = le.Uint64(sc[scTrapno:])
	sf.Oldmask = le.Uint64(sc[scOldmsk:])
	sf.CR2 = le.Uint64(sc[scCR2:])
	sf.FPState = le.Uint64(sc[scFPState:])
	sf.Sigmask = le.Uint64(buf[ucSigmask:])
	return sf, nil
}

// ReadSigInfo decodes the kernel siginfo this signal frame carries.
func (sf *SignalFrame) ReadSigInfo(m Memory) (SigInfo, error) {
	return ReadSigInfo(m, sf.SigInfo)
}

// SigInfo is the part of the kernel's siginfo a post-mortem needs. Its
// fields are those of corefile.SigInfo, in the same order, so one converts
// to the other.
type SigInfo struct {
	Signo, Errno, Code int32
	Addr               uint64 // si_addr: faulting address (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP from the kernel)
	PID                int32  // si_pid: sender (SI_USER, SI_TKILL, SI_QUEUE, SIGCHLD)
	UID                uint32 // si_uid
}

// Signal numbers and si_code values used in the tests and by callers.
const (
	SIGILL  = 4
	SIGTRAP = 5
	SIGBUS  = 7
	SIGFPE  = 8
	SIGSEGV = 11
	SIGCHLD = 17

	SI_USER     = 0
	SI_KERNEL   = 0x80
	SI_QUEUE    = -1
	SI_TKILL    = -6
	SEGV_MAPERR = 1
	SEGV_ACCERR = 2
)

// ReadSigInfo decodes the kernel siginfo (128 bytes) at addr:
// si_signo@0, si_errno@4, si_code@8, then the union at 16: si_addr for
// faults the kernel raised (si_code > 0), si_pid@16 and si_uid@20 for
// signals sent by a process (si_code <= 0) and for SIGCHLD.
func ReadSigInfo(m Memory, addr uint64) (SigInfo, error) {
	buf := make([]byte, 24)
	n, err := m.ReadAt(buf, addr)
	if err == nil && n < len(buf) {
		err = fmt.Errorf("short read")
	}
	if err != nil {
		return SigInfo{}, fmt.Errorf("reading siginfo at %#x: %w", addr, err)
	}
	return DecodeSigInfo(buf), nil
}

// DecodeSigInfo decodes the first 24 bytes of a kernel siginfo.
func DecodeSigInfo(b []byte) SigInfo {
	if len(b) < 24 {
		return SigInfo{}
	}
	le := binary.LittleEndian
	s := SigInfo{Signo: int32(le.Uint32(b)), Errno: int32(le.Uint32(b[4:])), Code: int32(le.Uint32(b[8:]))}
	fault := false
	switch s.Signo {
	case SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV:
		fault = s.Code > 0 && s.Code != SI_KERNEL
	}
	if fault {
		s.Addr = le.Uint64(b[16:])
	} else if s.Code <= 0 || s.Signo == SIGCHLD {
		s.PID = int32(le.Uint32(b[16:]))
		s.UID = le.Uint32(b[20:])
	}
	return s
}
