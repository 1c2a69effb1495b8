package dmesg

import (
	"debug/elf"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestParseFieldReportLine(t *testing.T) {
	line := "[Fri Jan 29 17:56:02 2021] Processer_5[2905610]: segfault at 0 ip 00007fd23b6e020f sp 00007fc79d505b60 error 4 in libdcache.so[7fd23ac16000+13d4000]"
	f, err := Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	want := Fault{Comm: "Processer_5", TID: 2905610, Kind: "segfault", Addr: 0, HasAddr: true,
		IP: 0x7fd23b6e020f, SP: 0x7fc79d505b60, ErrorCode: 4, Object: "libdcache.so",
		VMAStart: 0x7fd23ac16000, VMASize: 0x13d4000, Raw: line}
	if *f != want {
		t.Fatalf("got %+v\nwant %+v", *f, want)
	}
	// The report's step 1: ip - base.
	if got := f.IP - f.VMAStart; got != 0xaca20f {
		t.Fatalf("offset %#x, want 0xaca20f", got)
	}
}

func TestParseModernKernelLine(t *testing.T) {
	// As printed by this machine's 6.x kernel: the file offset comes first.
	f, err := Parse("[ 7386.981427] worker[3931]: segfault at 0 ip 00005596aafac1cc sp 00007f56cdebeea8 error 4 in nullderef[11cc,5596aafac000+1000] likely on CPU 0 (core 0, socket 0)")
	if err != nil {
		t.Fatal(err)
	}
	if f.Comm != "worker" || f.TID != 3931 || !f.HasFileOffset || f.FileOffset != 0x11cc || f.VMAStart != 0x5596aafac000 || f.VMASize != 0x1000 || f.Object != "nullderef" {
		t.Fatalf("parsed %+v", *f)
	}
}

func TestParseTrapLine(t *testing.T) {
	f, err := Parse("traps: ceph-dse[42] general protection fault ip:7f0000001234 sp:7ffd00000000 error:0 in libdcache.so[7f0000000000+2000]")
	if err != nil {
		t.Fatal(err)
	}
	if f.Kind != "general protection fault" || f.HasAddr || f.IP != 0x7f0000001234 || f.Object != "libdcache.so" || f.TID != 42 {
		t.Fatalf("parsed %+v", *f)
	}
}

func TestParseRejectsOtherLines(t *testing.T) {
	for _, l := range []string{"", "eth0: link up", "segfault at", "x[1]: segfault at zz ip"} {
		if _, err := Parse(l); !errors.Is(err, ErrNotAFault) {
			t.Errorf("%q: err %v, want ErrNotAFault", l, err)
		}
	}
}

func TestExplainError(t *testing.T) {
	cases := map[uint64]string{
		4:  "error 4 = no page mapped at the address, read, in user mode",
		6:  "error 6 = no page mapped at the address, write, in user mode",
		7:  "error 7 = protection violation on a mapped page, write, in user mode",
		21: "error 21 = protection violation on a mapped page, read, in user mode, instruction fetch",
	}
	for code, want := range cases {
		if got := ExplainError(code); got != want {
			t.Errorf("ExplainError(%d) = %q, want %q", code, got, want)
		}
	}
}

// TestPlaceInRealLibrary places an ip inside libc's executable segment both
// ways the kernel reports it and checks both land on the symbol's address.
func TestPlaceInRealLibrary(t *testing.T) {
	f, err := elf.Open("/lib/x86_64-linux-gnu/libc.so.6")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	var abortAddr uint64
	for _, s := range syms {
		if s.Name == "abort" {
			abortAddr = s.Value
		}
	}
	var exec *elf.Prog
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 {
			exec = p
		}
	}
	if abortAddr == 0 || exec == nil {
		t.Fatal("libc has no abort or no executable segment")
	}
	const bias = 0x7f1234560000
	vma := bias + exec.Vaddr&^0xfff
	ip := bias + abortAddr + 5
	pl, err := Place(f, vma, ip)
	if err != nil {
		t.Fatal(err)
	}
	if pl.FileAddr != abortAddr+5 || pl.Bias != bias {
		t.Fatalf("Place: %+v, want file addr %#x bias %#x", pl, abortAddr+5, uint64(bias))
	}
	if exec.Vaddr != 0 && pl.Naive == pl.FileAddr {
		t.Fatalf("naive offset should differ from the file address when the text segment is not first")
	}
	// The 6.2+ form carries the file offset.
	off := exec.Off + (abortAddr + 5 - exec.Vaddr)
	line := "x[1]: segfault at 0 ip " + hexs(ip) + " sp 0 error 4 in libc.so.6[" +
		hexs(off) + "," + hexs(vma) + "+1000]"
	fl, err := Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	pl2, err := fl.Place(f)
	if err != nil {
		t.Fatal(err)
	}
	if pl2.FileAddr != abortAddr+5 || pl2.Bias != bias {
		t.Fatalf("Fault.Place: %+v", pl2)
	}
}

func hexs(v uint64) string { return strings.TrimPrefix(strconv.FormatUint(v, 16), "0x") }

func TestParseLongLine(t *testing.T) {
	line := "[Fri Jan 29 17:56:02 2021] Processer_5[2905610]: segfault at 0 ip 00007fd23b6e020f sp 00007fc79d505b60 error 4 in libdcache.so[7fd23ac16000+13d4000]"
	if _, err := Parse(strings.Repeat(" ", MaxLine) + line); err != nil {
		t.Fatalf("leading blanks are trimmed: %v", err)
	}
	long := strings.Repeat("x", MaxLine) + line
	_, err := Parse(long)
	if !errors.Is(err, ErrNotAFault) || !strings.Contains(err.Error(), "a line of "+strconv.Itoa(len(long))+" bytes (a kernel line is at most 4096)") {
		t.Fatalf("a 4 KiB+ line: %v", err)
	}
}
