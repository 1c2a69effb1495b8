package heap

import (
	"encoding/binary"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/corefile"
)

// Patched is the core with some bytes overwritten, as a corrupt heap would
// have them (the core file itself is never written).
type Patched struct {
	*corefile.Core
	Bytes map[uint64]byte
}

// PatchWord overwrites the 8 bytes at addr.
func (m *Patched) PatchWord(addr, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	for i := range b {
		m.Bytes[addr+uint64(i)] = b[i]
	}
}

func (m *Patched) ReadAt(b []byte, addr uint64) (int, error) {
	n, err := m.Core.ReadAt(b, addr)
	for i := 0; i < n; i++ {
		if v, ok := m.Bytes[addr+uint64(i)]; ok {
			b[i] = v
		}
	}
	return n, err
}

func (m *Patched) ReadUint64(addr uint64) (uint64, error) {
	var b [8]byte
	if n, err := m.ReadAt(b[:], addr); n < 8 {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

func (m *Patched) ReadUint32(addr uint64) (uint32, error) {
	var b [4]byte
	if n, err := m.ReadAt(b[:], addr); n < 4 {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// OpenPatched reads the heap through m.
func OpenPatched(p *coreparse.Process, o Options, m *Patched) *Heap { return open(p, o, m) }
