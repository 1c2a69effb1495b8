package waits

import (
	"fmt"
	"strings"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/l10n"
)

// A coroutine runtime's sync primitives (libgo's routine_sync) are read
// through the profile's sync keys (coroutines.SyncLayout), never by their
// function names: a waiting stack has a waiter (RutexWaiter) in one of the
// primitives' frames; the waiter points to the Rutex it is queued on, and
// that Rutex's list of waiters, walked, must list it (a waiter requeued by a
// condition's fast notify is in its new Rutex's list while its frames are
// still the condition's). The primitive is the outermost `this` of the
// primitives' frames that contains the Rutex and whose type is (or derives
// from) a profile's sync type; its kind comes from the profile.

// maxQueue bounds a Rutex's waiter list walk.
const maxQueue = 100000

// rutexWait reads a Rutex wait on the stack, if it has one; false when the
// stack waits in no Rutex.
func (a *analysis) rutexWait(n *Node) bool {
	sl := a.sync
	fs := n.frames
	// The waiter: a variable of the waiter type in memory (the wait's
	// own), or a pointer to one (the waiter's member functions' this), in
	// the primitives' frames nearest the top.
	wi, w := -1, uint64(0)
	for i := n.top; i < len(fs) && i < n.top+32 && wi < 0; i++ {
		if !sl.InNamespace(fs[i].Function) {
			continue
		}
		fr := values.FrameOf(a.p, fs, i)
		if fr == nil {
			continue
		}
		params, locals, _ := a.vr.FrameVars(fr)
		for _, v := range append(locals, params...) {
			if v.Absent() {
				continue
			}
			tn := strings.TrimPrefix(a.vr.TypeName(v), "const ")
			switch {
			case tn == sl.Waiter && v.InMemory() && v.Addr != 0:
				wi, w = i, v.Addr
			case strings.TrimSuffix(strings.TrimSuffix(tn, " const"), " *") == sl.Waiter && strings.Contains(tn, "*"):
				if u, err := a.vr.Uint(v); err == nil && u != 0 {
					wi, w = i, u
				}
			}
			if wi >= 0 {
				break
			}
		}
	}
	if wi < 0 {
		return false
	}
	// The waiting frame: the first frame outward that is not the
	// primitives' code.
	lib := wi
	for lib < len(fs) && a.libraryFrame(fs[lib]) {
		lib++
	}
	n.Frame, n.Function, n.File, n.Line = -1, "", "", 0
	if lib < len(fs) && !fs[lib].Boundary {
		n.Frame, n.Function, n.File, n.Line = lib, fs[lib].Function, fs[lib].File, fs[lib].Line
	}
	r, ok := sl.RutexOf(a.p, w)
	if !ok {
		a.warnf("%s waits in %s, but its waiter %s at %#x is not in the core", n.Who, fs[wi].Function, sl.Waiter, w)
		n.State = Suspended
		n.detail(l10n.T("waits.detail-in", "Function", fs[wi].Function))
		return true
	}
	if r == 0 {
		// Woken (or not yet queued): the Rutex no longer lists it.
		n.State = Suspended
		n.detail(l10n.T("waits.detail-woken", "Function", fs[wi].Function))
		return true
	}
	q := a.rutexQueue(r)
	if !q.has[w] {
		how := "does not list it"
		if !q.complete {
			how = fmt.Sprintf("could not be read to its end (%d waiters read)", q.n)
		}
		a.warnf("%s: its waiter at %#x points to the Rutex at %#x, whose list of waiters %s", n.Who, w, r, how)
	}
	p := a.primitive(n, wi, lib, r)
	n.State = Waiting
	n.Write = p.write
	n.WaitsFor = a.coObject(p)
	return true
}

// waiterList is a Rutex's list of waiters as read once: its members, how
// many were read, and whether the list was read to its end.
type waiterList struct {
	has      map[uint64]bool
	n        int
	complete bool
}

// rutexQueue reads the Rutex r's waiters once for all the waits on it:
// 10,000 tasks waiting on one channel would otherwise walk its list of
// 10,000 once each.
func (a *analysis) rutexQueue(r uint64) waiterList {
	if q, ok := a.queues[r]; ok {
		return q
	}
	queue, complete := a.sync.Queue(a.p, r, maxQueue)
	q := waiterList{has: make(map[uint64]bool, len(queue)), n: len(queue), complete: complete}
	for _, w := range queue {
		q.has[w] = true
	}
	if a.queues == nil {
		a.queues = map[uint64]waiterList{}
	}
	a.queues[r] = q
	return q
}

// prim is the primitive a Rutex belongs to.
type prim struct {
	rutex      uint64 // the Rutex holder the waiter is queued on
	addr       uint64 // the primitive (the Rutex itself when none is known)
	kind, typ  string // the kind, the type's name ("" when unknown)
	size       int64
	mod        *coreparse.Module
	write      bool
	base       int64  // the offset of the profile's co_rwmutex type in the primitive's
	handle     uint64 // a co_chan's handle (a struct holding a shared pointer to it), 0 when none
	handleType string
}

// primitive finds the primitive containing the Rutex r from the `this` of
// the frames between the waiter's (wi) and the waiting frame (lib).
func (a *analysis) primitive(n *Node, wi, lib int, r uint64) prim {
	sl := a.sync
	p := prim{rutex: r, addr: r, kind: Rutex}
	type this struct {
		addr uint64
		v    *values.Value // the object
		ty   *symbols.Type
	}
	var thises []this
	for j := wi; j < lib && j < len(n.frames); j++ {
		fr := values.FrameOf(a.p, n.frames, j)
		if fr == nil {
			continue
		}
		params, _, _ := a.vr.FrameVars(fr)
		for _, v := range params {
			if v.Name != "this" || v.Absent() {
				continue
			}
			u, err := a.vr.Uint(v)
			if err != nil || u == 0 {
				continue
			}
			d, err := a.vr.Deref(v)
			if err != nil || d.Mod == nil || d.Mod.Syms == nil {
				continue
			}
			ty := a.vr.Resolved(d)
			if ty == nil || ty.Kind != symbols.KindStruct {
				continue
			}
			thises = append(thises, this{u, d, ty})
		}
	}
	for _, t := range thises {
		s := t.v.Mod.Syms
		if t.addr > r || r >= t.addr+uint64(max(t.ty.Size, 1)) {
			continue
		}
		k := sl.KindOf(s, t.ty)
		if k == "" {
			continue
		}
		// The outermost wins: a channel contains its conditions.
		p.addr, p.kind, p.typ, p.size, p.mod = t.addr, k, s.TypeName(t.ty.Offset), t.ty.Size, t.v.Mod
		p.write = false
		if k == CoRWMutex && sl.Writers >= 0 {
			base := int64(0)
			if b, ok := s.BaseOffset(t.ty, sl.RWMutex); ok {
				base = b
			}
			p.write = r == t.addr+uint64(base+sl.Writers)
			p.base = base
		}
	}
	if p.kind == CoChan {
		// Its handle: a `this` holding a shared pointer to it.
		for _, t := range thises {
			for _, m := range a.vr.Members(t.v) {
				if !strings.HasPrefix(strings.TrimPrefix(a.vr.TypeName(m), "const "), "std::shared_ptr<") {
					continue
				}
				if ptr, err := a.vr.Member(m, "_M_ptr"); err == nil {
					if u, err := a.vr.Uint(ptr); err == nil && u == p.addr {
						p.handle, p.handleType = t.addr, t.v.Mod.Syms.TypeName(t.ty.Offset)
					}
				}
			}
		}
	}
	return p
}

// coObject is the object of a coroutine primitive: at the primitive's
// address, named by a global when one holds it (a channel by its handle's
// global), else later by the frames.
func (a *analysis) coObject(p prim) int {
	if i, ok := a.objs[p.addr]; ok {
		return i
	}
	o := Object{Address: p.addr, word: p.addr, Kind: p.kind, HoldFrame: -1, Expr: fmt.Sprintf("%#x", p.addr), How: "address",
		size: p.size, handleType: p.handleType}
	if p.handle != 0 {
		if expr, ty, ok := a.globalHandle(p.handle, p.handleType); ok {
			o.Expr, o.How, o.Type, o.rtype = expr, "global", ty, p.handleType
		}
	}
	if o.How == "address" {
		a.nameObject(&o)
	}
	if o.Type == "" && p.typ != "" {
		o.rtype = p.typ
	}
	// The lock word: a co_mutex's is its Rutex's value, its first word; a
	// co_rwmutex's its writers' Rutex value.
	switch o.Kind {
	case CoMutex:
		o.word = o.Address
	case CoRWMutex:
		if a.sync.WritersWord >= 0 && a.sync.Writers >= 0 {
			o.lockWord = o.Address + uint64(a.sync.WritersWord)
		}
		if p.kind == CoRWMutex && p.addr == o.Address {
			o.lockWord += uint64(p.base)
		}
	}
	if i, ok := a.objs[o.Address]; ok {
		a.objs[p.rutex] = i
		return i
	}
	a.res.Objects = append(a.res.Objects, o)
	i := len(a.res.Objects) - 1
	a.objs[p.addr], a.objs[o.Address], a.objs[p.rutex] = i, i, i
	return i
}

// libraryFrame says whether a frame belongs to the lock machinery rather
// than to the code that asked for the lock: the C library, the C++
// library's locks and guards, the coroutine runtime's sync primitives (the
// profile's namespaces, and the member functions of types deriving from
// its primitives) and its context switch (the Processer's functions).
func (a *analysis) libraryFrame(f coreparse.Frame) bool {
	if libraryFrame(f) {
		return true
	}
	fn := f.Function
	if a.procPrefix != "" && strings.HasPrefix(fn, a.procPrefix) {
		return true
	}
	if a.sync == nil {
		return false
	}
	if a.sync.InNamespace(fn) {
		return true
	}
	class := className(fn)
	if class == "" {
		return false
	}
	if k, ok := a.classKind[class]; ok {
		return k
	}
	k := false
	if m := a.sync.Module; m != nil && m.Syms != nil {
		if t, ok := m.Syms.LookupType(class); ok {
			k = a.sync.KindOf(m.Syms, t) != ""
		}
	}
	a.classKind[class] = k
	return k
}

// className is the class of a member function's qualified name
// ("co::CoRWMutex::WLock" → "co::CoRWMutex"), "" for a free function.
func className(fn string) string {
	if i := strings.IndexByte(fn, '('); i >= 0 {
		fn = fn[:i]
	}
	depth := 0
	for i := len(fn) - 1; i > 0; i-- {
		switch fn[i] {
		case '>':
			depth++
		case '<':
			depth--
		case ':':
			if depth == 0 && fn[i-1] == ':' {
				return fn[:i-1]
			}
		}
	}
	return ""
}
