package waits

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/l10n"
)

func (a *analysis) read32(addr uint64) (uint32, bool) {
	var b [4]byte
	if n, _ := a.p.Core.ReadAt(b[:], addr); n != 4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[:]), true
}

// mutexKinds: glibc's PTHREAD_MUTEX_* type in __kind's low bits.
var mutexKinds = []string{"normal", "recursive", "errorcheck", "adaptive"}

// mode sets the object's Mode, said by m.
func (o *Object) mode(m l10n.Msg) { o.ModeSaid, o.Mode = m, m.String() }

// lockWord reads what the object's own words say: held or not, by whom.
func (a *analysis) lockWord(o *Object) {
	w := o.word
	switch o.Kind {
	case Mutex:
		lock, ok1 := a.read32(w)
		owner, ok2 := a.read32(w + 8)
		kind, ok3 := a.read32(w + 16)
		if !ok1 || !ok2 || !ok3 {
			a.warnf("mutex %s at %#x: its words are not in the core", o.Expr, w)
			return
		}
		k := int(kind & 0x7f)
		modes := []string{mutexKinds[k&3]}
		if k&16 != 0 {
			modes = append(modes, "robust")
		}
		if k&32 != 0 {
			modes = append(modes, "priority-inheritance")
		}
		if k&64 != 0 {
			modes = append(modes, "priority-protect")
		}
		o.Locked = lock != 0
		tid := int(owner)
		if k&(16|32) != 0 {
			// Robust and PI mutexes keep the owner's TID in the lock word.
			tid = int(lock & 0x3fffffff)
			o.OwnerDied = lock&0x40000000 != 0
		}
		if owner == 0x7fffffff || owner == 0x7ffffffe {
			modes = append(modes, map[uint32]string{0x7fffffff: "inconsistent", 0x7ffffffe: "not-recoverable"}[owner])
			tid = 0
		}
		var said []l10n.Msg
		for _, m := range modes {
			said = append(said, l10n.T("waits.mode-"+m))
		}
		o.mode(l10n.Join("sep.comma", said...))
		if o.Locked && tid > 0 {
			o.OwnerLWP, o.OwnerHow = tid, "__owner"
		}
		if strings.Contains(o.Type, "mutex_debug") {
			a.mutexDebug(o)
		}
	case RWLock:
		readers, ok1 := a.read32(w)
		writer, ok2 := a.read32(w + 24)
		if !ok1 || !ok2 {
			return
		}
		o.Readers = int(readers >> 3)
		o.Locked = writer != 0 || o.Readers > 0
		if writer != 0 {
			o.OwnerLWP, o.OwnerHow = int(writer), "__cur_writer"
			o.mode(l10n.T("waits.mode-write-locked"))
		} else if o.Readers > 0 {
			o.mode(l10n.T("waits.mode-read-locked", "N", o.Readers))
		}
	case CoMutex, Rutex:
		v, ok := a.read32(w)
		if !ok {
			return
		}
		o.Locked = v&0xff != 0
		o.mode(l10n.T("waits.mode-no-owner"))
		if v&0xff00 != 0 {
			o.mode(l10n.T("waits.mode-contended"))
		}
	case CoRWMutex:
		// Its lock word is its writers' Rutex value (libgo's
		// SharedMutexInternal: locked, then write_wait, read_wait): -1
		// write-locked, -2 a writer due, n > 0 read-locked by n.
		if o.lockWord == 0 {
			return
		}
		v, ok := a.read32(o.lockWord)
		if !ok {
			return
		}
		switch locked := int32(v); {
		case locked == -1:
			o.Locked = true
			o.mode(l10n.T("waits.mode-co-write-locked"))
		case locked > 0:
			o.Locked, o.Readers = true, int(locked)
			o.mode(l10n.T("waits.mode-co-read-locked", "N", int(locked)))
		case locked == -2:
			o.mode(l10n.T("waits.mode-writer-due"))
		}
	}
}

// mutexDebug reads ceph::mutex_debug's own record of its owner
// (src/common/mutex_debug.h: nlock, locked_by = the std::thread::id).
func (a *analysis) mutexDebug(o *Object) {
	m := a.p.ModuleAt(o.Address)
	if m == nil || m.Syms == nil {
		return
	}
	name, _, ok := a.p.Symbol(o.Address)
	if !ok {
		return
	}
	g, ok := m.Syms.LookupGlobal(name)
	if !ok {
		return
	}
	v := &values.Value{Mod: m, Type: g.Type, Addr: o.Address, Kind: values.KindReference}
	lb, err := a.vr.Member(v, "locked_by")
	if err != nil {
		return
	}
	if id, err := a.vr.Member(lb, "_M_thread"); err == nil {
		lb = id
	}
	pt, err := a.vr.Uint(lb)
	if err != nil || pt == 0 {
		return
	}
	for _, t := range a.p.Threads {
		if t.Pthread == pt {
			if o.OwnerLWP == 0 {
				o.OwnerLWP = t.LWP
			}
			o.OwnerHow += fmt.Sprintf(", locked_by %#x", pt)
			if o.OwnerHow[0] == ',' {
				o.OwnerHow = "locked_by"
			}
		}
	}
}
