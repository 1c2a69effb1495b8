package coreparse

import (
	"os"
	"testing"
	"time"

	"github.com/dsecore/dsecore/coreparse/corefile"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/internal/testsupport/bound"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
)

// FuzzModules: module resolution on a real core whose dynamic-linker
// structures are overwritten by the fuzzer (the executable's ELF and
// program headers as the kernel dumped them, its dynamic section, r_debug,
// each struct link_map): every input gives modules or warnings, never a
// panic or a hang, and the core's threads stay as they were.
func FuzzModules(f *testing.F) {
	sc := fixture.Get(f).Scenario(f, fixture.FieldCrash)
	data, err := os.ReadFile(sc.Core)
	if err != nil {
		f.Fatal(err)
	}
	c, err := corefile.NewCore(sc.Core, data)
	if err != nil {
		f.Fatal(err)
	}
	tables := symbols.NewCache()
	f.Cleanup(tables.Close)
	opts := Options{Core: sc.Core, Exe: sc.Exe, MaxFrames: 512, DebugFileDirs: []string{"/usr/lib/debug"}, Tables: tables}
	p := &Process{Core: c, opts: opts}
	c.SetFileResolver(p.resolveFile)
	p.loadModules(opts)
	if p.exeImage == nil || len(p.Modules) < 3 {
		f.Fatalf("the clean core: exe image %v, %d modules", p.exeImage != nil, len(p.Modules))
	}
	// The regions, as file offsets in the core.
	type region struct{ off, n uint64 }
	var regions []region
	add := func(addr, n uint64) {
		if s, ok := c.SegmentAt(addr); ok && addr-s.Vaddr+n <= s.Filesz {
			regions = append(regions, region{s.Off + addr - s.Vaddr, n})
		}
	}
	add(p.Exe.Start, 64+56*uint64(len(p.exeImage.phdrs)))
	for _, ph := range p.exeImage.phdrs {
		if ph.Type == 2 { // PT_DYNAMIC
			add(ph.Vaddr+p.exeImage.bias, 512)
		}
	}
	lms, err := readLinkMap(c, p.exeImage)
	if err != nil || len(lms) < 3 {
		f.Fatalf("the clean core's link_map: %d entries, %v", len(lms), err)
	}
	if rd, err := rDebugAddr(c, p.exeImage); err == nil {
		add(rd, 40)
		for lm, err := c.ReadUint64(rd + 8); err == nil && lm != 0 && len(regions) < 64; lm, err = c.ReadUint64(lm + 24) {
			add(lm, 40)
		}
	}
	if len(regions) < 5 {
		f.Fatalf("only %d regions found", len(regions))
	}
	nthreads := len(c.Threads)
	for i := range regions {
		f.Add(uint8(i), uint16(0), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		f.Add(uint8(i), uint16(8), []byte{0, 0, 0, 0, 0, 0, 0, 0})
		f.Add(uint8(i), uint16(24), []byte{0x10, 0, 0, 0})
	}
	f.Fuzz(func(t *testing.T, which uint8, at uint16, patch []byte) {
		r := regions[int(which)%len(regions)]
		start := r.off + uint64(at)%r.n
		if len(patch) > 256 {
			patch = patch[:256]
		}
		end := min(start+uint64(len(patch)), uint64(len(data)))
		saved := append([]byte(nil), data[start:end]...)
		copy(data[start:end], patch)
		defer copy(data[start:end], saved)

		bound.Within(t, 5*time.Second, func() {
			c, err := corefile.NewCore("fuzz", data)
			if err != nil {
				t.Errorf("the core no longer parses: %v", err)
				return
			}
			p := &Process{Core: c, opts: opts}
			c.SetFileResolver(p.resolveFile)
			p.loadModules(opts)
			if len(c.Threads) != nthreads {
				t.Errorf("%d threads, was %d", len(c.Threads), nthreads)
			}
			for _, m := range p.Modules {
				if m.End < m.Start {
					t.Errorf("module %s: %#x-%#x", m.Name, m.Start, m.End)
				}
			}
		}, "module resolution took over 5 s (region %d at %d, %d bytes)", which, at, len(patch))
	})
}
