// Package signature computes a crash signature: a stable hash of the
// crashing stack's normalized frames, so that cores of one crash group
// together across runs, builds with other addresses and machines.
//
// Version v1, the rules:
//   - the crashing stack is the real fault's: frames above the kernel's
//     signal frame (the handler's, raise, pthread_kill) and the signal
//     frame itself are dropped;
//   - frames of the C library's abort and assertion machinery (raise,
//     abort, __assert_fail, __restore_rt, pthread_kill …) and of the
//     coroutine runtime's trampolines (make_fcontext, jump_fcontext,
//     co::Task::StaticRun) are skipped wherever they are;
//   - each kept frame is its function name without argument list, template
//     arguments or offset; inline frames count as frames;
//   - frames outside the application (system libraries: libc, libstdc++,
//     ld.so, libgcc_s, libm, the vdso) are skipped;
//   - the first N (default 5) remaining frames are hashed: sha256 over the
//     names joined by "\n", in hex, prefixed "v1:" in documents.
//
// That is Ceph's stack_sig in spirit (sha256 over cleaned function names of
// the crashing thread), with inline frames and the coroutine runtime known.
package signature

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/dsecore/dsecore/coreparse"
)

// Version names the rules above; it changes when they do.
const Version = "v1"

// DefaultFrames is how many frames a signature hashes.
const DefaultFrames = 5

// Signature is a crash's signature.
type Signature struct {
	Version string   `json:"version"`
	Hash    string   `json:"hash"`   // hex sha256
	Frames  []string `json:"frames"` // the normalized frames hashed
	// Raw are the same frames with template arguments kept: groups whose
	// signatures agree may still differ here.
	Raw []string `json:"raw"`
	// Degraded says some frames had no symbol ("module+0xoffset" was used):
	// the signature groups only cores of the same build.
	Degraded bool `json:"degraded,omitempty"`
}

// ID is "v1:<hash>".
func (s Signature) ID() string { return s.Version + ":" + s.Hash }

var skipFunctions = map[string]bool{
	"raise": true, "abort": true, "__GI_raise": true, "__GI_abort": true, "gsignal": true,
	"__assert_fail": true, "__assert_fail_base": true, "__assert_perror_fail": true,
	"__restore_rt": true, "__pthread_kill_implementation": true, "__pthread_kill_internal": true,
	"pthread_kill": true, "__pthread_kill": true, "__GI___pthread_kill": true,
	"make_fcontext": true, "jump_fcontext": true, "ontop_fcontext": true, "co::Task::StaticRun": true,
	"std::terminate": true, "__cxxabiv1::__terminate": true, "__gnu_cxx::__verbose_terminate_handler": true,
	"ceph::__ceph_assert_fail": true, "ceph::__ceph_abort": true, "__ceph_assert_fail": true, "__ceph_abort": true,
	"ceph::__ceph_assertf_fail": true, "__ceph_assertf_fail": true,
}

// Compute takes the crashing stack (innermost first) and hashes its first
// n application frames (n <= 0: DefaultFrames).
func Compute(frames []coreparse.Frame, n int) Signature {
	if n <= 0 {
		n = DefaultFrames
	}
	s := Signature{Version: Version}
	for _, f := range frames[realStart(frames):] {
		if len(s.Frames) == n {
			break
		}
		name, offset, ok := hashed(f)
		if !ok {
			continue
		}
		if offset {
			s.Frames = append(s.Frames, name) // the offset is all there is
			s.Raw = append(s.Raw, name)
			s.Degraded = true
			continue
		}
		s.Frames = append(s.Frames, Normalize(name))
		s.Raw = append(s.Raw, stripParams(name))
	}
	sum := sha256.Sum256([]byte(strings.Join(s.Frames, "\n")))
	s.Hash = hex.EncodeToString(sum[:])
	return s
}

// FirstFrame is the index in a crashing stack (innermost first) of the
// first frame a signature hashes: past the signal frame, the platform's
// libraries and the machinery that raised the signal (abort, raise, a
// failed assertion, the coroutine trampolines): the application's code the
// crash is told by. -1 when there is none.
func FirstFrame(frames []coreparse.Frame) int {
	from := realStart(frames)
	for i, f := range frames[from:] {
		if _, _, ok := hashed(f); ok {
			return from + i
		}
	}
	return -1
}

// Raising says whether a function is part of the machinery that raises a
// signal or ends a process (abort, raise, pthread_kill, a failed
// assertion, std::terminate) or enters a coroutine: a signature passes
// over it.
func Raising(function string) bool { return skipFunctions[Normalize(function)] }

// realStart is where the real fault's frames start: below the signal
// frame, else at the innermost.
func realStart(frames []coreparse.Frame) int {
	for i, f := range frames {
		if f.Sigtramp {
			return i + 1
		}
	}
	return 0
}

// hashed is the name a signature hashes a frame by, whether that name is a
// module offset only (no symbol), and whether the frame is hashed at all.
func hashed(f coreparse.Frame) (name string, offset, ok bool) {
	if f.Boundary || f.Sigtramp {
		return "", false, false
	}
	name = f.Function
	if name == "" || name == "??" {
		if f.Mod == nil || f.Mod.IsSystem() {
			return "", false, false
		}
		return fmt.Sprintf("%s+%#x", f.Mod.BaseName(), f.PC-f.Mod.Bias), true, true
	}
	if f.Mod.IsSystem() || skipFunctions[Normalize(name)] {
		return "", false, false
	}
	return name, false, true
}

// Normalize drops argument lists, template arguments and offsets from a
// C++ frame name: "a::b<int>::c<x>(int) const+0x12" → "a::b::c".
func Normalize(name string) string {
	name = stripOffset(name)
	var b strings.Builder
	depth := 0
	// A template function's demangled name carries its return type
	// ("std::ostream& std::__ostream_insert<char, …>(…)", as gdb prints a
	// minimal symbol): the last space at depth 0 before a template
	// argument list ends it.
	space, template := -1, false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '<' && !strings.HasSuffix(b.String(), "operator") && !strings.HasPrefix(name[i:], "<lambda") || c == '<' && depth > 0:
			if depth == 0 && space >= 0 {
				template = true
			}
			depth++
		case c == '>' && depth > 0:
			depth--
		case c == '(' && depth == 0:
			if strings.HasPrefix(name[i:], "(anonymous namespace)") {
				b.WriteString("(anonymous namespace)")
				i += len("(anonymous namespace)") - 1
				continue
			}
			return stripOffset(dropReturnType(strings.TrimSpace(b.String()), space, template))
		case depth == 0:
			if c == ' ' && b.Len() > 0 {
				space = b.Len()
			}
			b.WriteByte(c)
		}
	}
	return stripOffset(dropReturnType(strings.TrimSpace(b.String()), space, template))
}

// stripOffset drops the offsets ("+0x1c", hex digits to the end) that end
// a name, all of them: a name is normalized in one pass ("f+0x1+0x2" and
// "f" are the same function; "f+0x" has no offset).
func stripOffset(name string) string {
	for {
		i := strings.LastIndex(name, "+0x")
		if i <= 0 || i+3 == len(name) || strings.TrimLeft(name[i+3:], "0123456789abcdefABCDEF") != "" {
			return name
		}
		name = strings.TrimSpace(name[:i])
	}
}

// dropReturnType cuts a template function's name at the space after its
// return type; names with spaces of their own (operators, thunks, "vtable
// for") are left whole.
func dropReturnType(name string, space int, template bool) string {
	if !template || space <= 0 || space >= len(name) {
		return name
	}
	head, fn := name[:space], strings.TrimSpace(name[space:])
	if strings.Contains(name, "operator") || strings.Contains(head, " to") || strings.Contains(head, " for") || fn == "" {
		return name
	}
	return fn
}

// stripParams drops only the argument list.
func stripParams(name string) string {
	depth := 0
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '<':
			depth++
		case '>':
			if depth > 0 {
				depth--
			}
		case '(':
			if depth == 0 && !strings.HasPrefix(name[i:], "(anonymous namespace)") {
				return strings.TrimSpace(name[:i])
			}
			if strings.HasPrefix(name[i:], "(anonymous namespace)") {
				i += len("(anonymous namespace)") - 1
			}
		}
	}
	return name
}

// Distance is how many of the first frames differ between two signatures'
// frame lists (a missing frame counts as different).
func Distance(a, b []string) int {
	n := max(len(a), len(b))
	d := 0
	for i := 0; i < n; i++ {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			d++
		}
	}
	return d
}
