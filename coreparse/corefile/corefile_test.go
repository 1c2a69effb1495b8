package corefile_test

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/coreparse/corefile"
	"github.com/dsecore/dsecore/internal/testsupport/testcore"
)

func open(t *testing.T, path string) *corefile.Core {
	t.Helper()
	c, err := corefile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// gdbThreads dumps, per thread, LWP and registers as gdb reads them.
func gdbThreads(t *testing.T, exe, core string) map[int]map[string]uint64 {
	t.Helper()
	script := `import gdb
for th in gdb.selected_inferior().threads():
    th.switch()
    f = gdb.newest_frame()
    vals = []
    for r in ("rip", "rsp", "rbp", "rax", "rbx", "r12", "r15", "fs_base"):
        vals.append("%s=%d" % (r, int(f.read_register(r)) & 0xffffffffffffffff))
    print("T %d %s" % (th.ptid[1], " ".join(vals)))
`
	sf := filepath.Join(t.TempDir(), "regs.py")
	os.WriteFile(sf, []byte(script), 0o644)
	out, err := exec.Command("gdb", "-nx", "-batch", "-x", sf, exe, core).CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	res := map[int]map[string]uint64{}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "T" {
			continue
		}
		lwp, _ := strconv.Atoi(f[1])
		regs := map[string]uint64{}
		for _, kv := range f[2:] {
			k, v, _ := strings.Cut(kv, "=")
			regs[k], _ = strconv.ParseUint(v, 10, 64)
		}
		res[lwp] = regs
	}
	if len(res) == 0 {
		t.Fatalf("gdb printed no threads:\n%s", out)
	}
	return res
}

func TestThreadsAndRegistersMatchGdb(t *testing.T) {
	for _, p := range []testcore.Program{testcore.NullDeref, testcore.Reraise} {
		t.Run(p.Name, func(t *testing.T) {
			r := testcore.Make(t, p)
			c := open(t, r.Core)
			want := gdbThreads(t, r.Exe, r.Core)
			if len(c.Threads) != len(want) {
				t.Errorf("%d threads, gdb %d", len(c.Threads), len(want))
			}
			for _, th := range c.Threads {
				g, ok := want[th.LWP]
				if !ok {
					t.Errorf("LWP %d not in gdb", th.LWP)
					continue
				}
				ours := map[string]uint64{"rip": th.Regs.Rip, "rsp": th.Regs.Rsp, "rbp": th.Regs.Rbp, "rax": th.Regs.Rax,
					"rbx": th.Regs.Rbx, "r12": th.Regs.R12, "r15": th.Regs.R15, "fs_base": th.Regs.FsBase}
				for k, v := range g {
					if ours[k] != v {
						t.Errorf("LWP %d %s = %#x, gdb %#x", th.LWP, k, ours[k], v)
					}
				}
				if th.Pthread() != th.Regs.FsBase || th.Pthread() == 0 {
					t.Errorf("pthread %#x", th.Pthread())
				}
				if len(th.FPRegs) != 512 || len(th.XState) == 0 {
					t.Errorf("LWP %d: FPREGSET %d bytes, XSTATE %d bytes", th.LWP, len(th.FPRegs), len(th.XState))
				}
			}
			if c.Threads[0].CurSig != 11 {
				t.Errorf("first thread cursig %d, want 11", c.Threads[0].CurSig)
			}
		})
	}
}

// readelfNotes runs eu-readelf -n and extracts what the tests compare.
func readelfNotes(t *testing.T, core string) string {
	t.Helper()
	out, err := exec.Command("eu-readelf", "-n", core).Output()
	if err != nil {
		t.Fatalf("eu-readelf -n: %v", err)
	}
	return string(out)
}

func TestNotesMatchReadelf(t *testing.T) {
	for _, p := range []testcore.Program{testcore.NullDeref, testcore.Reraise} {
		t.Run(p.Name, func(t *testing.T) {
			r := testcore.Make(t, p)
			c := open(t, r.Core)
			notes := readelfNotes(t, r.Core)
			// NT_SIGINFO
			m := regexp.MustCompile(`si_signo: (\d+), si_errno: (\d+), si_code: (-?\d+)`).FindStringSubmatch(notes)
			if m == nil || c.SigInfo == nil {
				t.Fatalf("siginfo: ours %+v, readelf %v", c.SigInfo, m)
			}
			if fmt.Sprint(c.SigInfo.Signo) != m[1] || fmt.Sprint(c.SigInfo.Code) != m[3] {
				t.Errorf("siginfo %+v, readelf %v", c.SigInfo, m)
			}
			switch p.Name {
			case "nullderef":
				if c.SigInfo.CodeName() != "SEGV_MAPERR" || c.SigInfo.Addr != 0 || c.SigInfo.CodeDescription() != "Address not mapped to object" {
					t.Errorf("nullderef siginfo %+v %s", c.SigInfo, c.SigInfo.CodeName())
				}
			case "reraise":
				if c.SigInfo.CodeName() != "SI_TKILL" || c.SigInfo.PID == 0 || int(c.SigInfo.PID) != int(c.PSInfo.PID) {
					t.Errorf("reraise siginfo %+v %s (pid %d)", c.SigInfo, c.SigInfo.CodeName(), c.PSInfo.PID)
				}
			}
			if corefile.SignalName(int(c.SigInfo.Signo)) != "SIGSEGV" || corefile.SignalDescription(11) != "Segmentation fault" {
				t.Error("signal names")
			}
			// NT_PRPSINFO
			if c.PSInfo == nil || !strings.Contains(notes, "fname: "+c.PSInfo.Fname+"\n") || c.PSInfo.Fname != p.Name ||
				!strings.Contains(notes, fmt.Sprintf("pid: %d,", c.PSInfo.PID)) {
				t.Fatalf("psinfo %+v", c.PSInfo)
			}
			// The kernel keeps 79 bytes of the command line: under a long
			// temporary directory the executable's path is cut short.
			if args := c.PSInfo.Args; c.PSInfo.ArgsCut {
				if len(args) != 79 || !strings.HasPrefix(r.Exe, args) && !strings.HasPrefix(args, r.Exe+" ") {
					t.Errorf("psinfo args %q cut (%d bytes), executable %s", args, len(args), r.Exe)
				}
			} else if args != r.Exe || !strings.HasSuffix(args, p.Name) {
				t.Errorf("psinfo args %q, executable %s", args, r.Exe)
			}
			// NT_AUXV
			m = regexp.MustCompile(`ENTRY: (0x[0-9a-f]+)`).FindStringSubmatch(notes)
			if v, ok := c.AuxvValue(corefile.AT_ENTRY); !ok || m == nil || fmt.Sprintf("%#x", v) != m[1] {
				t.Errorf("AT_ENTRY %#x, readelf %v", v, m)
			}
			// NT_FILE
			fileRE := regexp.MustCompile(`(?m)^\s+([0-9a-f]+)-([0-9a-f]+) ([0-9a-f]+) \d+\s+(\S+)$`)
			fm := fileRE.FindAllStringSubmatch(notes, -1)
			if len(fm) != len(c.Files) || len(fm) == 0 {
				t.Fatalf("%d file mappings, readelf %d", len(c.Files), len(fm))
			}
			for i, f := range fm {
				want := fmt.Sprintf("%s-%s %s %s", f[1], f[2], f[3], f[4])
				got := c.Files[i]
				if s := fmt.Sprintf("%x-%x %08x %s", got.Start, got.End, got.Offset, got.Path); s != want {
					t.Errorf("mapping %d: %s, readelf %s", i, s, want)
				}
			}
		})
	}
}

// gdbBytes reads memory with gdb's x/Nxb.
func gdbBytes(t *testing.T, exe, core string, addr uint64, n int) []byte {
	t.Helper()
	out, err := exec.Command("gdb", "-nx", "-batch", "-ex", fmt.Sprintf("x/%dxb %#x", n, addr), exe, core).CombinedOutput()
	if err != nil {
		t.Fatalf("gdb x: %v\n%s", err, out)
	}
	var b []byte
	for _, l := range strings.Split(string(out), "\n") {
		_, rest, ok := strings.Cut(l, ":\t")
		if !ok || !strings.HasPrefix(l, "0x") {
			continue
		}
		for _, f := range strings.Fields(rest) {
			v, err := strconv.ParseUint(strings.TrimPrefix(f, "0x"), 16, 8)
			if err == nil {
				b = append(b, byte(v))
			}
		}
	}
	return b
}

func TestReadAcrossSegmentEdge(t *testing.T) {
	r := testcore.Make(t, testcore.NullDeref)
	c := open(t, r.Core)
	var edge uint64
	for i := 1; i < len(c.Segments); i++ {
		a, b := c.Segments[i-1], c.Segments[i]
		if a.Vaddr+a.Memsz == b.Vaddr && a.Filesz == a.Memsz && b.Filesz > 16 {
			edge = b.Vaddr
			break
		}
	}
	if edge == 0 {
		t.Fatal("no two adjacent, dumped segments in the core")
	}
	got := make([]byte, 32)
	if n, err := c.ReadAt(got, edge-16); err != nil || n != 32 {
		t.Fatalf("read across %#x: %d %v", edge, n, err)
	}
	if want := gdbBytes(t, r.Exe, r.Core, edge-16, 32); !bytes.Equal(got, want) {
		t.Errorf("bytes across %#x:\n ours %x\n gdb  %x", edge, got, want)
	}
	// A gap between segments is an error, not a panic, and says where.
	var gap uint64
	for i := 1; i < len(c.Segments); i++ {
		if end := c.Segments[i-1].Vaddr + c.Segments[i-1].Memsz; end < c.Segments[i].Vaddr {
			gap = end
			break
		}
	}
	n, err := c.ReadAt(got, gap-8)
	var me *corefile.MemError
	if n != 8 || !errors.Is(err, corefile.ErrUnmapped) || !errors.As(err, &me) || me.Addr != gap {
		t.Errorf("read into the gap at %#x: n=%d err=%v", gap, n, err)
	}
	if _, err := c.ReadUint64(0); !errors.Is(err, corefile.ErrUnmapped) {
		t.Errorf("read at 0: %v", err)
	}
	if c.Readable(0) || !c.Readable(edge) {
		t.Error("Readable")
	}
}

// TestFileResolver: libc's text is not in the core; through the resolver
// it reads as the file's bytes.
func TestFileResolver(t *testing.T) {
	r := testcore.Make(t, testcore.NullDeref)
	c := open(t, r.Core)
	var libc corefile.FileMapping
	for _, f := range c.Files {
		if strings.Contains(f.Path, "libc.so") && f.Offset != 0 {
			libc = f
			break
		}
	}
	if libc.Path == "" {
		t.Fatal("no libc text mapping")
	}
	buf := make([]byte, 64)
	addr := libc.Start + 0x100
	if _, err := c.ReadAt(buf, addr); !errors.Is(err, corefile.ErrUnmapped) {
		t.Fatalf("libc text without resolver: %v (the kernel dumps only the first page of file mappings)", err)
	}
	c.SetFileResolver(func(p string) (string, bool) { return p, true })
	if _, err := c.ReadAt(buf, addr); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(libc.Path)
	defer f.Close()
	want := make([]byte, 64)
	f.ReadAt(want, int64(libc.Offset+0x100))
	if !bytes.Equal(buf, want) {
		t.Errorf("resolver bytes %x, file %x", buf, want)
	}
	// The ELF header page of the executable is dumped: no resolver needed.
	hdr := make([]byte, 4)
	c.SetFileResolver(nil)
	if _, err := c.ReadAt(hdr, c.Files[0].Start); err != nil || string(hdr) != elf.ELFMAG {
		t.Errorf("executable's first page: %q %v", hdr, err)
	}
}

func TestTruncatedCore(t *testing.T) {
	r := testcore.Make(t, testcore.NullDeref)
	data, err := os.ReadFile(r.Core)
	if err != nil {
		t.Fatal(err)
	}
	full := open(t, r.Core)
	cut := filepath.Join(t.TempDir(), "core.cut")
	os.WriteFile(cut, data[:len(data)*2/3], 0o644)
	c := open(t, cut)
	if len(c.Warnings) == 0 || !strings.Contains(strings.Join(c.Warnings, "\n"), "truncated") {
		t.Errorf("warnings %q", c.Warnings)
	}
	if len(c.Threads) != len(full.Threads) {
		t.Errorf("notes lost: %d threads of %d", len(c.Threads), len(full.Threads))
	}
	last := c.Segments[len(c.Segments)-1]
	if _, err := c.ReadUint64(last.Vaddr + last.Filesz - 8); !errors.Is(err, corefile.ErrUnmapped) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("read of a truncated part: %v", err)
	}
	// Cut inside the notes: a clean answer either way.
	for _, n := range []int{0, 10, 64, 100, 0xa50 + 40, 0xa50 + 500} {
		if n > len(data) {
			continue
		}
		p := filepath.Join(t.TempDir(), "core")
		os.WriteFile(p, data[:n], 0o644)
		if c, err := corefile.Open(p); err == nil {
			c.Close()
		}
	}
	if _, err := corefile.Open(r.Exe); err == nil || !strings.Contains(err.Error(), "not a core") {
		t.Errorf("opening an executable as a core: %v", err)
	}
}

// TestOpenInheritedDescriptor: /dev/fd/N reads the descriptor itself (the
// node agent's unprivileged child reads cores so; its test in fleet/agent
// checks the privilege side): here the file's name is gone before the
// open, so only the descriptor can reach it.
func TestOpenInheritedDescriptor(t *testing.T) {
	r := testcore.Make(t, testcore.NullDeref)
	b, err := os.ReadFile(r.Core)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "core")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	os.Remove(path)
	c, err := corefile.Open(fmt.Sprintf("/dev/fd/%d", f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := open(t, r.Core)
	if len(c.Threads) != len(want.Threads) || c.Threads[0].Regs != want.Threads[0].Regs || c.PSInfo.Fname != want.PSInfo.Fname {
		t.Fatalf("through the descriptor: %d threads, %q; the file: %d threads, %q", len(c.Threads), c.PSInfo.Fname, len(want.Threads), want.PSInfo.Fname)
	}
	if _, err := corefile.Open("/dev/fd/999"); err == nil {
		t.Errorf("a descriptor that is not open: no error")
	}
}
