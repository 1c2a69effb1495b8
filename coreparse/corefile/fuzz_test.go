package corefile

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/dsecore/dsecore/internal/testsupport/bound"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/internal/testsupport/testcore"
)

// notesPrefix is a core cut after its PT_NOTE segment: the ELF header, the
// program headers and every note, with the memory segments left out (they
// read as truncated). Small enough to mutate, real enough to reach every
// note decoder.
func notesPrefix(tb testing.TB, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	f, err := elf.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	end := uint64(0)
	for _, p := range f.Progs {
		if p.Type == elf.PT_NOTE {
			end = max(end, p.Off+p.Filesz)
		}
	}
	if end == 0 || end > uint64(len(b)) {
		tb.Fatalf("%s: no PT_NOTE", path)
	}
	return b[:end]
}

// FuzzNewCore: any bytes give a core or an error, never a panic or a hang;
// reads of any address of a parsed core are bounded by its segments.
func FuzzNewCore(f *testing.F) {
	set := fixture.Get(f)
	for _, sc := range []string{fixture.FieldCrash, fixture.Abort, fixture.NoHandler} {
		f.Add(notesPrefix(f, set.Scenario(f, sc).Core))
	}
	// The headers and notes of a small real core, whole and cut.
	small, err := os.ReadFile(testcore.Make(f, testcore.NullDeref).Core)
	if err != nil {
		f.Fatal(err)
	}
	head := small[:min(len(small), 16384)]
	f.Add(head)
	f.Add(head[:100])
	f.Add(head[:4000])
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return // the engine grows inputs; past a note area's size they only cost time
		}
		bound.Within(t, 3*time.Second, func() { exercise(data) }, "no answer in 3 s on %d bytes", len(data))
	})
}

func exercise(data []byte) {
	{
		c, err := NewCore("fuzz", data)
		if err != nil {
			return
		}
		defer c.Close()
		// The same core read through the page cache (one page a shard:
		// always evicting) must read alike, bytes and errors.
		paged, err := NewCore("fuzz", data)
		if err != nil {
			panic(err)
		}
		paged.pages = newPageCache("core", bytes.NewReader(data), int64(len(data)), 0)
		defer paged.Close()
		buf, pbuf := make([]byte, 64), make([]byte, 64)
		read := func(addr uint64) {
			n, err := c.ReadAt(buf, addr)
			pn, perr := paged.ReadAt(pbuf, addr)
			if n != pn || !bytes.Equal(buf[:n], pbuf[:pn]) || fmt.Sprint(err) != fmt.Sprint(perr) {
				panic(fmt.Sprintf("read at %#x: %d %v in memory, %d %v through the page cache", addr, n, err, pn, perr))
			}
		}
		cstr := func(addr uint64, max int) {
			s, err := c.ReadCString(addr, max)
			ps, perr := paged.ReadCString(addr, max)
			if s != ps || fmt.Sprint(err) != fmt.Sprint(perr) {
				panic(fmt.Sprintf("string at %#x: %q %v in memory, %q %v through the page cache", addr, s, err, ps, perr))
			}
		}
		for _, s := range c.Segments {
			read(s.Vaddr)
			read(s.Vaddr + s.Memsz - 8)
			read(s.Vaddr + s.Memsz - 1)
			read(s.Vaddr + s.Filesz - 30)
		}
		for _, th := range c.Threads {
			read(th.Regs.Rsp)
			cstr(th.Regs.Rsp, 100)
		}
		c.AuxvValue(3)
		cstr(0, 64)
		if len(c.Segments) > 0 {
			cstr(c.Segments[0].Vaddr, 4096)
		}
	}
}
