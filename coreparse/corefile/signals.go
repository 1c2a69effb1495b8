package corefile

import "fmt"

var signalNames = [...]string{1: "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
	"SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT",
	"SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH",
	"SIGIO", "SIGPWR", "SIGSYS"}

var signalDescriptions = [...]string{1: "Hangup", "Interrupt", "Quit", "Illegal instruction", "Trace/breakpoint trap",
	"Aborted", "Bus error", "Floating point exception", "Killed", "User defined signal 1", "Segmentation fault",
	"User defined signal 2", "Broken pipe", "Alarm clock", "Terminated", "Stack fault", "Child exited", "Continued",
	"Stopped (signal)", "Stopped", "Stopped (tty input)", "Stopped (tty output)", "Urgent I/O condition",
	"CPU time limit exceeded", "File size limit exceeded", "Virtual timer expired", "Profiling timer expired",
	"Window changed", "I/O possible", "Power failure", "Bad system call"}

// SignalName returns "SIGSEGV" for 11, "SIG40" for a number without a name.
func SignalName(signo int) string {
	if signo > 0 && signo < len(signalNames) {
		return signalNames[signo]
	}
	return fmt.Sprintf("SIG%d", signo)
}

// glibc's real-time signals: it keeps 32 and 33 for itself, and strsignal
// numbers the rest from SIGRTMIN.
const (
	SigRTMin = 34
	SigRTMax = 64
)

// SignalDescription returns glibc's strsignal text, which Ceph's handler
// logs: "Segmentation fault"; "Real-time signal 6" for 40; "Unknown
// signal 32".
func SignalDescription(signo int) string {
	if signo > 0 && signo < len(signalDescriptions) {
		return signalDescriptions[signo]
	}
	if signo >= SigRTMin && signo <= SigRTMax {
		return fmt.Sprintf("Real-time signal %d", signo-SigRTMin)
	}
	return fmt.Sprintf("Unknown signal %d", signo)
}

type codeInfo struct{ name, desc string }

var genericCodes = map[int32]codeInfo{
	0:    {"SI_USER", "Sent by kill, sigsend or raise"},
	0x80: {"SI_KERNEL", "Sent by the kernel"},
	-1:   {"SI_QUEUE", "Sent by sigqueue"},
	-2:   {"SI_TIMER", "Sent by timer expiration"},
	-3:   {"SI_MESGQ", "Sent by real time mesq state change"},
	-4:   {"SI_ASYNCIO", "Sent by AIO completion"},
	-5:   {"SI_SIGIO", "Sent by queued SIGIO"},
	-6:   {"SI_TKILL", "Sent by tkill"},
}

var faultCodes = map[int32][]codeInfo{
	11: {1: {"SEGV_MAPERR", "Address not mapped to object"}, {"SEGV_ACCERR", "Invalid permissions for mapped object"},
		{"SEGV_BNDERR", "Failed address bound checks"}, {"SEGV_PKUERR", "Access was denied by memory protection keys"},
		{"SEGV_ACCADI", "ADI not enabled for mapped object"}, {"SEGV_ADIDERR", "Disrupting MCD error"},
		{"SEGV_ADIPERR", "Precise MCD exception"}, {"SEGV_MTEAERR", "Asynchronous MTE error"},
		{"SEGV_MTESERR", "Synchronous MTE exception"}, {"SEGV_CPERR", "Control protection fault"}},
	7: {1: {"BUS_ADRALN", "Invalid address alignment"}, {"BUS_ADRERR", "Non-existent physical address"},
		{"BUS_OBJERR", "Object specific hardware error"}, {"BUS_MCEERR_AR", "Hardware memory error consumed on a machine check"},
		{"BUS_MCEERR_AO", "Hardware memory error detected in process but not consumed"}},
	4: {1: {"ILL_ILLOPC", "Illegal opcode"}, {"ILL_ILLOPN", "Illegal operand"}, {"ILL_ILLADR", "Illegal addressing mode"},
		{"ILL_ILLTRP", "Illegal trap"}, {"ILL_PRVOPC", "Privileged opcode"}, {"ILL_PRVREG", "Privileged register"},
		{"ILL_COPROC", "Coprocessor error"}, {"ILL_BADSTK", "Internal stack error"}},
	8: {1: {"FPE_INTDIV", "Integer divide by zero"}, {"FPE_INTOVF", "Integer overflow"}, {"FPE_FLTDIV", "Floating point divide by zero"},
		{"FPE_FLTOVF", "Floating point overflow"}, {"FPE_FLTUND", "Floating point underflow"}, {"FPE_FLTRES", "Floating point inexact result"},
		{"FPE_FLTINV", "Floating point invalid operation"}, {"FPE_FLTSUB", "Subscript out of range"}},
	5: {1: {"TRAP_BRKPT", "Process breakpoint"}, {"TRAP_TRACE", "Process trace trap"}, {"TRAP_BRANCH", "Process taken branch trap"},
		{"TRAP_HWBKPT", "Hardware breakpoint/watchpoint"}},
}

func (s *SigInfo) code() codeInfo {
	if s.Code > 0 && s.Code < 0x80 {
		if l, ok := faultCodes[s.Signo]; ok && int(s.Code) < len(l) {
			return l[s.Code]
		}
	}
	if c, ok := genericCodes[s.Code]; ok {
		return c
	}
	return codeInfo{fmt.Sprintf("code %d", s.Code), ""}
}

// CodeName names si_code in the signal's context: "SEGV_MAPERR", "SI_TKILL".
func (s *SigInfo) CodeName() string { return s.code().name }

// CodeDescription says si_code in words, as gdb does: "Address not mapped to object".
func (s *SigInfo) CodeDescription() string { return s.code().desc }
