package dmesg

import "testing"

// FuzzParse: any line parses or is refused, never a panic; a parsed fault
// keeps the line it came from.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"[Fri Jan 29 17:56:02 2021] Processer_5[2905610]: segfault at 0 ip 00007fd23b6e020f sp 00007fc79d505b60 error 4 in libdcache.so[7fd23ac16000+13d4000]",
		"[ 7386.981427] worker[3931]: segfault at 0 ip 00005596aafac1cc sp 00007f56cdebeea8 error 4 in nullderef[11cc,5596aafac000+1000] likely on CPU 0 (core 0, socket 0)",
		"traps: ceph-dse[1234] general protection fault ip:7f0000001000 sp:7ffd00000000 error:0 in libc.so.6[7f0000000000+195000]",
		"", "segfault at", "x[1]: segfault at zz ip 1 sp 1 error 4",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		flt, err := Parse(line)
		if err == nil && flt == nil {
			t.Fatal("nil fault without an error")
		}
		if flt != nil {
			ExplainError(flt.ErrorCode)
		}
	})
}
