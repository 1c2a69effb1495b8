package coreparse_test

import (
	"debug/elf"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/internal/testsupport/testcore"
)

// gdbSharedLibs returns gdb's `info sharedlibrary`: library path → the
// runtime address of its .text ("From").
func gdbSharedLibs(t *testing.T, exe, core string) map[string]uint64 {
	t.Helper()
	out, err := exec.Command("gdb", "-nx", "-batch", "-ex", "info sharedlibrary", exe, core).CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`(?m)^(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+\S+(?:\s+\(\*\))?\s+(/\S+)$`)
	libs := map[string]uint64{}
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		v, _ := strconv.ParseUint(m[1][2:], 16, 64)
		libs[m[2]] = v
	}
	if len(libs) == 0 {
		t.Fatalf("gdb listed no shared libraries:\n%s", out)
	}
	return libs
}

func textAddr(t *testing.T, path string) uint64 {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := f.Section(".text")
	if s == nil {
		t.Fatalf("%s: no .text", path)
	}
	return s.Addr
}

// checkModules: every library gdb knows has our module with the same load
// bias, the local file and, for libc, Debian's separate debug file.
func checkModules(t *testing.T, exe, core string) *coreparse.Process {
	t.Helper()
	p, err := coreparse.Open(coreparse.Options{Core: core, Exe: exe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if p.Exe == nil || p.Exe.Path != exe || !p.Exe.IsExe {
		t.Errorf("executable module %+v, want %s", p.Exe, exe)
	}
	for path, from := range gdbSharedLibs(t, exe, core) {
		m := p.ModuleByName(filepath.Base(path)) // gdb names link_map paths, NT_FILE the resolved ones
		if m == nil {
			t.Errorf("%s: no module (gdb has it at %#x)", path, from)
			continue
		}
		if got := m.Bias + textAddr(t, m.Path); got != from {
			t.Errorf("%s: .text at %#x (bias %#x), gdb %#x", path, got, m.Bias, from)
		}
		if m.BuildIDMismatch || len(m.CoreBuildID) == 0 || m.Syms == nil {
			t.Errorf("%s: mismatch=%v core build-id %x syms=%v", path, m.BuildIDMismatch, m.CoreBuildID, m.Syms != nil)
		}
		if strings.Contains(path, "libc.so") && !strings.HasPrefix(m.DebugPath, "/usr/lib/debug/.build-id/") {
			t.Errorf("libc's debug file %q, want Debian's libc6-dbg under /usr/lib/debug/.build-id", m.DebugPath)
		}
	}
	for _, w := range p.Warnings {
		if strings.Contains(w, "MISMATCH") || strings.Contains(w, "no local file") {
			t.Errorf("warning: %s", w)
		}
	}
	return p
}

func TestModulesMatchGdb(t *testing.T) {
	r := testcore.Make(t, testcore.NullDeref)
	checkModules(t, r.Exe, r.Core)
}

func TestModulesMatchGdbOnFieldCrash(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.FieldCrash)
	p := checkModules(t, sc.Exe, sc.Core)
	lib := p.ModuleByName("libdcache.so")
	if lib == nil || lib.Path != sc.Lib {
		t.Fatalf("libdcache.so module %+v", lib)
	}
	if lib.Start != hexOf(t, sc.Expected["lib_base"]) {
		t.Errorf("libdcache.so mapped at %#x, the program's dladdr says %v", lib.Start, sc.Expected["lib_base"])
	}
}

func hexOf(t *testing.T, v any) uint64 {
	s, _ := v.(string)
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		t.Fatalf("hex %v: %v", v, err)
	}
	return n
}

// TestExeFoundWithoutFlag: the executable is found from the core alone
// (NT_FILE + AT_ENTRY) when it still lives where it ran.
func TestExeFoundWithoutFlag(t *testing.T) {
	r := testcore.Make(t, testcore.NullDeref)
	p, err := coreparse.Open(coreparse.Options{Core: r.Core})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Exe == nil || filepath.Base(p.Exe.Path) != filepath.Base(r.Exe) {
		t.Fatalf("exe %+v", p.Exe)
	}
}

// TestWrongExe: an executable with another build-id is used but flagged.
func TestWrongExe(t *testing.T) {
	r := testcore.Make(t, testcore.NullDeref)
	other := testcore.Make(t, testcore.Reraise)
	p, err := coreparse.Open(coreparse.Options{Core: r.Core, Exe: other.Exe})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// The core's own path still exists, so the right file is preferred.
	if p.Exe.BuildIDMismatch || p.Exe.Path != r.Exe {
		t.Errorf("with the right file at the core's path: %+v", p.Exe)
	}
}

// cephReraise is testcore.Reraise with the handler installed as Ceph does
// (SA_NODEFER), so the re-raise is delivered inside the handler and the
// fault context stays on the stack in the kernel's signal frame.
var cephReraise = func() testcore.Program {
	p := testcore.Reraise
	p.Name = "reraise-nodefer"
	p.Source = strings.Replace(p.Source, "sa.sa_flags = SA_SIGINFO;", "sa.sa_flags = SA_SIGINFO | SA_NODEFER;", 1)
	return p
}()

// TestFaultContext: the Ceph-style handler re-raised with pthread_kill: the core says SI_TKILL, the signal frame says SEGV_MAPERR
// at 0x140 (o->next of the bogus object at 0x10); the NullDeref program has no handler: both are the same.
func TestFaultContext(t *testing.T) {
	rr := testcore.Make(t, cephReraise)
	p, err := coreparse.Open(coreparse.Options{Core: rr.Core, Exe: rr.Exe})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fc := p.Fault()
	if fc.Core == nil || fc.Core.CodeName != "SI_TKILL" || fc.Real.CodeName != "SEGV_MAPERR" || !fc.Real.HasAddr || fc.Real.Addr != 0x140 || !fc.ReRaised || fc.SigFrame == nil {
		t.Fatalf("reraise: core %v real %v reraised=%v", fc.Core, fc.Real, fc.ReRaised)
	}
	if name, _, ok := p.Symbol(fc.PC); !ok || !strings.Contains(name, "follow") {
		t.Errorf("fault pc %#x in %q", fc.PC, name)
	}

	nd := testcore.Make(t, testcore.NullDeref)
	p2, err := coreparse.Open(coreparse.Options{Core: nd.Core, Exe: nd.Exe})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	fc = p2.Fault()
	if fc.ReRaised || fc.SigFrame != nil || fc.Real != fc.Core || fc.Real.CodeName != "SEGV_MAPERR" || fc.PC != fc.Thread.Regs.V[16] {
		t.Errorf("no handler: core %v real %v", fc.Core, fc.Real)
	}
}

// TestTLSAddressMatchesGdb: a thread-local variable of libc (tcache, after
// libstdc++'s TLS block, whose link_map name libstdc++.so.6 is not the
// mapped file's libstdc++.so.6.0.30) is where gdb finds it, in every thread.
func TestTLSAddressMatchesGdb(t *testing.T) {
	sc := fixture.Get(t).Scenario(t, fixture.TcacheUAF)
	p, err := coreparse.Open(coreparse.Options{Core: sc.Core, Exe: sc.Exe})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	libc := p.ModuleByName("libc.so.6")
	if libc == nil || libc.Syms == nil {
		t.Fatal("no libc.so.6")
	}
	v, ok := libc.Syms.LookupTLSGlobal("tcache")
	if !ok {
		t.Fatal("libc's DWARF has no thread-local tcache (libc6-dbg)")
	}
	args := []string{"-nx", "-batch"}
	for i := range p.Threads {
		args = append(args, "-ex", "thread "+strconv.Itoa(i+1), "-ex", "info thread", "-ex", "p &tcache")
	}
	out, err := exec.Command("gdb", append(args, sc.Exe, sc.Core)...).CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`(?s)\(LWP (\d+)\).*?\$\d+ = \(tcache_perthread_struct \*\*\) (0x[0-9a-f]+)`)
	ms := re.FindAllStringSubmatch(string(out), -1)
	if len(ms) != len(p.Threads) {
		t.Fatalf("gdb gave %d addresses for %d threads:\n%s", len(ms), len(p.Threads), out)
	}
	for _, m := range ms {
		lwp, _ := strconv.Atoi(m[1])
		want, _ := strconv.ParseUint(m[2][2:], 16, 64)
		th := p.ThreadByLWP(lwp)
		if th == nil {
			t.Fatalf("gdb's LWP %d is not a thread of the core", lwp)
		}
		got, err := p.TLSAddress(th, libc, v.Addr)
		if err != nil || got != want {
			t.Errorf("LWP %d: &tcache %#x (%v), gdb %#x", lwp, got, err, want)
		}
	}
}
