package coreparse

import (
	"debug/elf"
	"errors"
	"fmt"

	"github.com/dsecore/dsecore/internal/par"
)

// tlsInfo is a module's PT_TLS segment.
type tlsInfo struct {
	has          bool
	memsz, align uint64
	firstbyte    uint64 // p_vaddr & (align-1)
}

type tlsLayout struct {
	once    par.Once
	offsets map[*Module]uint64 // l_tls_offset of each module loaded at start-up
}

func (m *Module) tlsSegment() tlsInfo {
	if m.Path == "" {
		return tlsInfo{}
	}
	f, err := elf.Open(m.Path)
	if err != nil {
		return tlsInfo{}
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_TLS {
			a := max(p.Align, 1)
			return tlsInfo{has: true, memsz: p.Memsz, align: a, firstbyte: p.Vaddr & (a - 1)}
		}
	}
	return tlsInfo{}
}

// computeTLS lays out the static TLS blocks as glibc's
// _dl_determine_tlsoffset does for x86-64 (TLS variant II, blocks below
// the thread pointer): module by module in load order (the executable
// first), each at roundup(offset + size - firstbyte, align) + firstbyte.
func (p *Process) computeTLS() {
	p.tls.offsets = map[*Module]uint64{}
	order := p.loadOrder
	if len(order) == 0 {
		order = p.Modules
	}
	var offset uint64
	for _, m := range order {
		ti := m.tlsSegment()
		if !ti.has || ti.memsz == 0 {
			continue
		}
		fb := (-ti.firstbyte) & (ti.align - 1)
		off := roundUp(offset+ti.memsz-fb, ti.align) + fb
		p.tls.offsets[m] = off
		offset = off
	}
}

func roundUp(v, a uint64) uint64 { return (v + a - 1) / a * a }

// ErrNoTLS is returned when a module has no static TLS block.
var ErrNoTLS = errors.New("module has no static TLS block")

// TLSAddress returns the address, in thread t, of a thread-local variable
// of module m at offset off in its TLS block (the symbol's st_value). Only
// modules loaded at start-up are supported: their blocks sit at fixed
// offsets below the thread pointer (fs_base).
func (p *Process) TLSAddress(t *Thread, m *Module, off uint64) (uint64, error) {
	p.tls.once.Do(p.computeTLS)
	o, ok := p.tls.offsets[m]
	if !ok {
		return 0, fmt.Errorf("%s: %w", m.BaseName(), ErrNoTLS)
	}
	if t.Pthread == 0 || t.Pthread < o {
		return 0, fmt.Errorf("thread LWP %d: no thread pointer", t.LWP)
	}
	return t.Pthread - o + off, nil
}
