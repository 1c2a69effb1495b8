package waits

import (
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"github.com/dsecore/dsecore/analysis/heap"
	"github.com/dsecore/dsecore/analysis/holders"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/l10n"
)

// syncKind says which kind of lock a C++ type is ("" when none): the C and
// C++ libraries' and Ceph's by name, the coroutine runtime's through the
// profile's sync types (the type or a base of it).
func (a *analysis) syncKind(t *symbols.Table, name string, ty *symbols.Type) string {
	if k := libKind(name); k != "" {
		return k
	}
	if a.sync == nil {
		return ""
	}
	if k := a.sync.KindOfName(name); k != "" {
		return k
	}
	if ty != nil && t != nil {
		return a.sync.KindOf(t, ty)
	}
	return ""
}

// libKind is the kind of the C and C++ libraries' and Ceph's locks.
func libKind(name string) string {
	name = strings.TrimPrefix(strings.TrimPrefix(name, "const "), "volatile ")
	switch {
	case name == "std::mutex" || name == "std::recursive_mutex" || name == "std::timed_mutex" || name == "std::recursive_timed_mutex" ||
		name == "pthread_mutex_t" || strings.HasPrefix(name, "ceph::mutex_debug_detail::mutex_debug_impl<") ||
		name == "ceph::mutex" || name == "ceph::recursive_mutex" || name == "ceph::mutex_debug" || name == "ceph::mutex_recursive_debug":
		return Mutex
	case name == "std::shared_mutex" || name == "std::shared_timed_mutex" || name == "pthread_rwlock_t" || name == "ceph::shared_mutex" ||
		strings.HasPrefix(name, "ceph::shared_mutex_debug"):
		return RWLock
	case name == "std::condition_variable" || name == "std::_V2::condition_variable_any" || name == "std::condition_variable_any" ||
		name == "pthread_cond_t" || name == "ceph::condition_variable" || strings.HasPrefix(name, "ceph::condition_variable_debug"):
		return CondVar
	case name == "sem_t":
		return Semaphore
	}
	return ""
}

// typeName is a type's name as declared (typedefs kept), and the name of
// what it resolves to.
func typeNames(t *symbols.Table, off dwarf.Offset) (declared, resolved string, rt *symbols.Type) {
	declared = t.TypeName(off)
	for i := 0; i < 16; i++ {
		ty, err := t.TypeAt(off)
		if err != nil {
			return declared, resolved, nil
		}
		if ty.Kind != symbols.KindTypedef || ty.Elem == 0 {
			return declared, ty.Name, ty
		}
		off = ty.Elem
	}
	return declared, resolved, nil
}

// memberPath finds, inside an object of type off, the outermost member at
// byte offset at whose type is a lock: its path (".a.b"), kind, declared
// type name and offset. The object itself counts when it is a lock. With a
// handle type, the member at exactly at of that type is the one (a
// channel's handle).
func (a *analysis) memberPath(t *symbols.Table, off dwarf.Offset, at int64, handle ...string) (path, kind, typ string, base int64, size int64, ok bool) {
	for depth := 0; depth < 12; depth++ {
		decl, res, ty := typeNames(t, off)
		if len(handle) > 0 {
			if base == at && ty != nil && (res == handle[0] || decl == handle[0] || t.TypeName(ty.Offset) == handle[0] || derivesAt0(t, ty, handle[0])) {
				return path, CoChan, decl + "\x00" + t.TypeName(ty.Offset), base, sizeOf(ty), true
			}
		} else {
			if k := a.syncKind(t, decl, nil); k != "" {
				return path, k, decl + "\x00" + res, base, sizeOf(ty), true
			}
			if k := a.syncKind(t, res, ty); k != "" {
				if ty != nil {
					res = t.TypeName(ty.Offset) // qualified
				}
				return path, k, decl + "\x00" + res, base, sizeOf(ty), true
			}
		}
		if ty == nil {
			return "", "", "", 0, 0, false
		}
		switch ty.Kind {
		case symbols.KindStruct:
			found := false
			// Bases first: a lock's own base classes are part of it (no
			// name in the path).
			for k, m := range append(append([]symbols.Member(nil), ty.Bases...), ty.Members...) {
				if m.BitSize != 0 {
					continue
				}
				_, _, mt := typeNames(t, m.Type)
				sz := sizeOf(mt)
				if at < base+m.Offset || at >= base+m.Offset+max(sz, 1) {
					continue
				}
				if k >= len(ty.Bases) {
					path += "." + m.Name
				}
				base += m.Offset
				off = m.Type
				found = true
				break
			}
			if !found {
				return "", "", "", 0, 0, false
			}
		case symbols.KindArray:
			_, _, et := typeNames(t, ty.Elem)
			es := sizeOf(et)
			if es <= 0 {
				return "", "", "", 0, 0, false
			}
			k := (at - base) / es
			path += fmt.Sprintf("[%d]", k)
			base += k * es
			off = ty.Elem
		default:
			return "", "", "", 0, 0, false
		}
	}
	return "", "", "", 0, 0, false
}

// derivesAt0: ty has base (by qualified name) at its offset 0.
func derivesAt0(t *symbols.Table, ty *symbols.Type, base string) bool {
	off, ok := t.BaseOffset(ty, base)
	return ok && off == 0
}

func sizeOf(t *symbols.Type) int64 {
	if t == nil {
		return 0
	}
	return t.Size
}

// globalIndex is one module's DWARF globals by address.
type globalIndex struct {
	addr []uint64 // file addresses, sorted
	size []int64
	name []string
	typ  []dwarf.Offset
}

func (a *analysis) globals(m *coreparse.Module) *globalIndex {
	if gi, ok := a.gidx[m]; ok {
		return gi
	}
	gi := &globalIndex{}
	a.gidx[m] = gi
	if m.Syms == nil || !m.Syms.HasDWARF() {
		return gi
	}
	type ent struct {
		addr uint64
		size int64
		name string
		typ  dwarf.Offset
	}
	// The ELF object symbols give the qualified names (DWARF's
	// definitions of namespace members carry only the last component);
	// DWARF gives the types.
	var es []ent
	for _, sym := range m.Syms.Symbols() {
		if sym.Type != elf.STT_OBJECT || sym.Size == 0 || sym.Value == 0 {
			continue
		}
		name := sym.DemangledName()
		g, ok := m.Syms.LookupGlobal(name)
		if !ok || g.Addr != sym.Value {
			g, ok = m.Syms.LookupGlobal(lastComponent(name))
		}
		if !ok || g.Addr != sym.Value {
			continue
		}
		es = append(es, ent{sym.Value, int64(sym.Size), name, g.Type})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].addr < es[j].addr })
	for _, e := range es {
		gi.addr, gi.size, gi.name, gi.typ = append(gi.addr, e.addr), append(gi.size, e.size), append(gi.name, e.name), append(gi.typ, e.typ)
	}
	return gi
}

// globalName names an address inside a global variable: the global's
// path to the outermost lock containing it.
func (a *analysis) globalName(addr uint64) (expr, kind, typ string, base uint64, size int64, ok bool) {
	m := a.p.ModuleAt(addr)
	if m == nil || m.Syms == nil {
		return "", "", "", 0, 0, false
	}
	gi := a.globals(m)
	fa := addr - m.Bias
	i := sort.Search(len(gi.addr), func(i int) bool { return gi.addr[i] > fa }) - 1
	if i < 0 || fa >= gi.addr[i]+uint64(max(gi.size[i], 1)) {
		return "", "", "", 0, 0, false
	}
	off := fa - gi.addr[i]
	path, k, ty, b, sz, pok := a.memberPath(m.Syms, gi.typ[i], int64(off))
	if !pok {
		return "", "", "", 0, 0, false
	}
	return gi.name[i] + path, k, ty, addr - off + uint64(b), sz, true
}

// globalHandle names a channel's handle at addr when a global holds it:
// the global's path to the member of the handle's type there, and its
// declared type.
func (a *analysis) globalHandle(addr uint64, handleType string) (expr, typ string, ok bool) {
	m := a.p.ModuleAt(addr)
	if m == nil || m.Syms == nil {
		return "", "", false
	}
	gi := a.globals(m)
	fa := addr - m.Bias
	i := sort.Search(len(gi.addr), func(i int) bool { return gi.addr[i] > fa }) - 1
	if i < 0 || fa >= gi.addr[i]+uint64(max(gi.size[i], 1)) {
		return "", "", false
	}
	path, _, ty, _, _, pok := a.memberPath(m.Syms, gi.typ[i], int64(fa-gi.addr[i]), handleType)
	if !pok {
		return "", "", false
	}
	decl, _, _ := strings.Cut(ty, "\x00")
	return gi.name[i] + path, decl, true
}

// nameObject names a new object from its address: a global's member path
// (the lock containing the waited word), else left for the frames.
func (a *analysis) nameObject(o *Object) {
	if expr, k, ty, base, sz, ok := a.globalName(o.word); ok {
		o.Expr, o.How, o.Address, o.size = expr, "global", base, sz
		o.Type, o.rtype, _ = strings.Cut(ty, "\x00")
		if o.Kind == Rutex || o.Kind == Futex || o.Kind == Mutex && k != Mutex && k != "" {
			o.Kind = k
		}
		return
	}
	if name, off, ok := a.p.Symbol(o.word); ok {
		o.Expr, o.How = fmt.Sprintf("%s+%#x", name, off), "symbol"
		if off == 0 {
			o.Expr = name
		}
	}
}

func (a *analysis) read32(addr uint64) (uint32, bool) {
	var b [4]byte
	if n, _ := a.p.Core.ReadAt(b[:], addr); n != 4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[:]), true
}

// mutexKinds: glibc's PTHREAD_MUTEX_* type in __kind's low bits.
var mutexKinds = []string{"normal", "recursive", "errorcheck", "adaptive"}

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
		mode := mutexKinds[k&3]
		if k&16 != 0 {
			mode += ", robust"
		}
		if k&32 != 0 {
			mode += ", priority-inheritance"
		}
		if k&64 != 0 {
			mode += ", priority-protect"
		}
		o.Mode = mode
		o.Locked = lock != 0
		tid := int(owner)
		if k&(16|32) != 0 {
			// Robust and PI mutexes keep the owner's TID in the lock word.
			tid = int(lock & 0x3fffffff)
			o.OwnerDied = lock&0x40000000 != 0
		}
		if owner == 0x7fffffff || owner == 0x7ffffffe {
			o.Mode += map[uint32]string{0x7fffffff: ", inconsistent (its owner died)", 0x7ffffffe: ", not recoverable"}[owner]
			tid = 0
		}
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
			o.OwnerLWP, o.OwnerHow, o.Mode = int(writer), "__cur_writer", "write-locked"
		} else if o.Readers > 0 {
			o.Mode = fmt.Sprintf("read-locked by %d readers (readers are not recorded)", o.Readers)
		}
	case CoMutex, Rutex:
		v, ok := a.read32(w)
		if !ok {
			return
		}
		o.Locked = v&0xff != 0
		o.Mode = "records no owner"
		if v&0xff00 != 0 {
			o.Mode = "contended, records no owner"
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
			o.Locked, o.Mode = true, "write-locked, records no owner"
		case locked > 0:
			o.Locked, o.Readers, o.Mode = true, int(locked), fmt.Sprintf("read-locked by %d, records no readers", locked)
		case locked == -2:
			o.Mode = "free, a woken writer due"
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
	v := &values.Value{Mod: m, Type: g.Type, Addr: o.Address, InMemory: true}
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

// guardTypes are the RAII holders of a lock, and the member that refers
// to it.
var guardTypes = []struct{ prefix, member string }{
	{"std::lock_guard<", "_M_device"}, {"std::unique_lock<", "_M_device"}, {"std::shared_lock<", "_M_pm"},
	{"std::scoped_lock<", "_M_device"}, {"std::scoped_lock<", "_M_devices"},
}

// owners reads each object's words, then searches the frames of every
// stack for the objects at once: guards holding them (the owner, or the
// holding frame of a recorded owner), the paths that name them, and for
// conditions the other stacks that reach them (their possible notifiers).
func (a *analysis) owners(stacks []holders.Stack) {
	res := a.res
	for i := range res.Objects {
		o := &res.Objects[i]
		if o.How == "unknown" {
			continue
		}
		a.lockWord(o)
		if o.OwnerLWP > 0 && o.Owner == "" {
			o.Owner = a.lwpNode(o.OwnerLWP)
		}
	}
	var targets []holders.Target
	var tobj []int
	for i, o := range res.Objects {
		if o.How == "unknown" || o.Kind == Join || o.Kind == Futex && o.How == "address" {
			continue
		}
		if len(targets) == a.o.MaxObjects {
			res.Bounds = append(res.Bounds, Bound{Bound: "objects", Count: len(res.Objects) - i,
				Text: fmt.Sprintf("%d objects searched for their holders (max-objects %d)", a.o.MaxObjects, a.o.MaxObjects)})
			break
		}
		sz := uint64(max(o.size, 1))
		targets = append(targets, holders.Target{Address: o.Address, Size: sz, Role: fmt.Sprintf("object %d", i), What: o.Expr})
		tobj = append(tobj, i)
	}
	if len(targets) > 0 {
		opts := a.o.Holders
		opts.NoRaw = true
		sr := holders.Search(a.p, stacks, targets, opts)
		st := sr.Stats
		res.Stats.Search = &st
		for _, b := range sr.Bounds {
			res.Bounds = append(res.Bounds, Bound{Bound: "holders:" + b.Bound, Count: b.Count, Text: b.Text})
		}
		res.Warnings = append(res.Warnings, sr.Warnings...)
		a.useHits(sr.Hits, tobj)
	}
	a.heapNames()
	for i := range res.Objects {
		a.objectText(&res.Objects[i])
		if ow := res.Objects[i].Owner; ow != "" {
			if n := a.node(ow); n != nil {
				n.Holds = append(n.Holds, i)
			}
		}
	}
}

// heapNames names the objects no global and no frame names by the heap
// chunk they lie in (glibc's malloc, analysis/heap).
func (a *analysis) heapNames() {
	var h *heap.Heap
	for i := range a.res.Objects {
		o := &a.res.Objects[i]
		if o.How != "address" || o.Address == 0 || o.Kind == Join || !a.stuckOn(i) {
			continue
		}
		if h == nil {
			h = heap.Open(a.p, heap.Options{})
		}
		f := h.Locate(o.Address)
		if f == nil || !f.Known || f.Chunk == nil || f.State != heap.StateInUse && f.State != heap.StateMmapped {
			continue
		}
		o.Expr = fmt.Sprintf("%#x (heap chunk %#x+%#x, %d bytes, %s)", o.Address, f.Chunk.Mem, f.Offset, f.Chunk.Size, f.State)
		if f.ArenaName != "" {
			o.Expr = fmt.Sprintf("%#x (heap chunk %#x+%#x, %d bytes in %s)", o.Address, f.Chunk.Mem, f.Offset, f.Chunk.Size, f.ArenaName)
		}
		o.How = "heap"
	}
}

// stuckOn: a node waits for the object (not an idle wait).
func (a *analysis) stuckOn(i int) bool {
	for _, id := range a.res.Objects[i].Waiters {
		if n := a.node(id); n != nil && n.State == Waiting {
			return true
		}
	}
	return false
}

// lwpNode is the node of a thread: "lwp:N" (even when the thread is no
// node: it then shows as the LWP the lock word names).
func (a *analysis) lwpNode(lwp int) string { return fmt.Sprintf("lwp:%d", lwp) }

func hitNode(h holders.Hit) string {
	if h.TaskID >= 0 {
		return fmt.Sprintf("task:%d", h.TaskID)
	}
	return fmt.Sprintf("lwp:%d", h.LWP)
}

// guardOf says whether a hit is a lock guard's reference to its lock.
func guardOf(h holders.Hit) bool {
	vt := strings.TrimPrefix(h.VarType, "const ")
	for _, g := range guardTypes {
		if strings.HasPrefix(vt, g.prefix) && strings.HasPrefix(h.Expr, h.Variable+"."+g.member) && h.Relation == holders.PointsTo {
			return true
		}
	}
	return false
}

// owns: a unique_lock or shared_lock holds its lock only while _M_owns.
func (a *analysis) owns(n *Node, h holders.Hit) bool {
	vt := strings.TrimPrefix(h.VarType, "const ")
	if !strings.HasPrefix(vt, "std::unique_lock<") && !strings.HasPrefix(vt, "std::shared_lock<") {
		return true
	}
	fr := values.FrameOf(a.p, n.frames, h.Frame)
	if fr == nil {
		return true
	}
	params, locals, _ := a.vr.FrameVars(fr)
	v, err := a.vr.Eval(&values.Scope{Frame: fr, Vars: append(params, locals...)}, h.Variable+"._M_owns")
	if err != nil {
		return true
	}
	u, err := a.vr.Uint(v)
	return err != nil || u != 0
}

// useHits turns the holder search's hits into owners, holding frames,
// notifiers and names.
func (a *analysis) useHits(hits []holders.Hit, tobj []int) {
	res := a.res
	type guard struct {
		node string
		hit  holders.Hit
	}
	guards := map[int][]guard{}
	reach := map[int]map[string]holders.Hit{} // object → node → its first typed hit
	reachFrames := map[int]map[string][]int{} // object → node → the frames that reach it
	names := map[int][]holders.Hit{}
	for _, h := range hits {
		if h.Fallback || h.Relation == holders.Integer || h.Target >= len(tobj) {
			continue
		}
		oi := tobj[h.Target]
		o := &res.Objects[oi]
		id := hitNode(h)
		n := a.node(id)
		if n == nil {
			continue
		}
		waitsHere := n.State == Waiting && n.WaitsFor == oi || n.State == Idle && n.WaitsFor == oi
		inLock := n.Frame >= 0 && h.Frame < n.Frame && n.WaitsFor >= 0 // inside the lock library's frames
		if guardOf(h) && !inLock && a.owns(n, h) {
			if !waitsHere || strings.Contains(o.Mode, "recursive") {
				guards[oi] = append(guards[oi], guard{id, h})
			}
		}
		if !inLock && !waitsHere {
			if reach[oi] == nil {
				reach[oi] = map[string]holders.Hit{}
			}
			if _, ok := reach[oi][id]; !ok {
				reach[oi][id] = h
			}
			if reachFrames[oi] == nil {
				reachFrames[oi] = map[string][]int{}
			}
			reachFrames[oi][id] = append(reachFrames[oi][id], h.Frame)
		}
		if waitsHere && !inLock {
			names[oi] = append(names[oi], h)
		}
	}
	for oi := range res.Objects {
		o := &res.Objects[oi]
		if o.How != "global" && o.How != "unknown" && o.Kind != Join {
			a.nameFromHits(o, names[oi])
		}
		switch o.Kind {
		case CondVar, CoCondVar, CoChan:
			var ids []string
			for id := range reach[oi] {
				ids = append(ids, id)
			}
			sort.Slice(ids, func(i, j int) bool { return lessID(ids[i], ids[j]) })
			o.Notifiers = ids
			if len(ids) > 0 {
				h := reach[oi][ids[0]]
				o.Owner, o.OwnerHow, o.Inferred = ids[0], "notifier", true
				if o.Kind == CoChan {
					o.OwnerHow = "peer"
				}
				o.HoldFrame, o.HoldFunction, o.HoldExpr = h.Frame, h.Function, h.Expr
			} else {
				// Nobody else's frames reach it: its waiters wait for work.
				for _, w := range o.Waiters {
					if n := a.node(w); n != nil {
						n.State = Idle
						n.detail(l10n.T("waits.detail-waiting-on", "Expr", o.Expr))
					}
				}
			}
			continue
		case Join, Futex, Semaphore:
			continue
		}
		gs := guards[oi]
		sort.SliceStable(gs, func(i, j int) bool { return lessID(gs[i].node, gs[j].node) })
		if o.Owner != "" {
			for _, g := range gs {
				if g.node == o.Owner {
					o.HoldFrame, o.HoldFunction, o.HoldExpr = g.hit.Frame, g.hit.Function, g.hit.Expr
					break
				}
			}
			if o.HoldFrame < 0 {
				a.guardByType(o)
			}
			if o.HoldFrame < 0 {
				if h, ok := reach[oi][o.Owner]; ok && o.Kind != CoMutex {
					o.HoldFrame, o.HoldFunction, o.HoldExpr = h.Frame, h.Function, h.Expr
					o.OwnerHow += " (no guard: its frame reaches it through " + h.Expr + ")"
				} else if o.Locked {
					o.Leaked = true
				}
			}
			continue
		}
		if len(gs) == 0 && o.Locked && (o.Kind == CoMutex || o.Kind == CoRWMutex) {
			a.guardInReach(o, reachFrames[oi])
			continue
		}
		if len(gs) > 0 && o.Locked {
			g := gs[0]
			o.Owner, o.OwnerHow, o.Inferred = g.node, "lock guard", true
			o.HoldFrame, o.HoldFunction, o.HoldExpr = g.hit.Frame, g.hit.Function, g.hit.Expr
			if len(gs) > 1 {
				var others []string
				for _, x := range gs[1:] {
					others = append(others, x.node)
				}
				a.warnf("%s: guards in more than one stack hold it (%s, %s): taking the first", o.Expr, g.node, strings.Join(others, ", "))
			}
		}
	}
	// A recorded owner that is the running thread of a task: the task's
	// own frames are its thread's.
}

// guardByType finds the owner's frame holding a guard whose value DWARF
// no longer has (optimized out) but whose type is a guard of the
// object's type: the compiler kept the guard's reference only where the
// unlock needs it, and the frame is still the one that took the lock.
func (a *analysis) guardByType(o *Object) {
	n := a.node(o.Owner)
	if n == nil || o.Type == "" {
		return
	}
	names := map[string]bool{o.Type: true, o.rtype: true, lastComponent(o.Type): true, lastComponent(o.rtype): true}
	from := n.top
	if n.Frame >= 0 {
		from = n.Frame
	}
	for i := from; i < len(n.frames); i++ {
		f := n.frames[i]
		if f.Boundary || f.Sigtramp || f.Mod == nil {
			continue
		}
		fr := values.FrameOf(a.p, n.frames, i)
		if fr == nil {
			continue
		}
		params, locals, _ := a.vr.FrameVars(fr)
		for _, v := range append(params, locals...) {
			if v.Err == "" {
				continue // its value is known, and the holder search did not find it on the lock
			}
			vt := strings.TrimPrefix(a.vr.TypeName(v), "const ")
			for _, g := range guardTypes {
				if !strings.HasPrefix(vt, g.prefix) {
					continue
				}
				arg := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(vt, g.prefix), ">"))
				if !names[arg] && !names[lastComponent(arg)] {
					continue
				}
				o.HoldFrame, o.HoldFunction = i, f.Function
				o.HoldExpr = v.Name + " (" + v.Err + ")"
				o.OwnerHow += "; its frame has a " + vt + " " + v.Name
				return
			}
		}
	}
}

// guardInReach infers the owner of a lock that records none when no
// guard's value names it: the one thread or task (not waiting for it)
// whose frame reaches it and has a guard of its type whose value DWARF no
// longer has (optimized out, as a lock_guard often is at -O2). More than
// one such frame: none is taken, and a warning lists them.
func (a *analysis) guardInReach(o *Object, frames map[string][]int) {
	type cand struct {
		id    string
		frame int
		fn    string
		guard string
	}
	var cands []cand
	ids := make([]string, 0, len(frames))
	for id := range frames {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return lessID(ids[i], ids[j]) })
	for _, id := range ids {
		n := a.node(id)
		if n == nil {
			continue
		}
		seen := map[int]bool{}
		for _, fi := range frames[id] {
			if seen[fi] {
				continue
			}
			seen[fi] = true
			if g := a.lostGuard(n, fi, o); g != "" {
				cands = append(cands, cand{id, fi, n.frames[fi].Function, g})
				break
			}
		}
	}
	switch {
	case len(cands) == 1:
		c := cands[0]
		o.Owner, o.OwnerHow, o.Inferred = c.id, "lock guard (optimized out)", true
		o.HoldFrame, o.HoldFunction, o.HoldExpr = c.frame, c.fn, c.guard
	case len(cands) > 1:
		var who []string
		for _, c := range cands {
			who = append(who, fmt.Sprintf("%s (frame #%d %s)", c.id, c.frame, c.fn))
		}
		a.warnf("%s: more than one frame reaches it with an optimized-out guard of its type (%s): no owner inferred", o.Expr, strings.Join(who, ", "))
	}
}

// lostGuard is a guard of the object's type in frame i whose value is
// optimized out ("" when none): "g (optimized out)".
func (a *analysis) lostGuard(n *Node, i int, o *Object) string {
	if i < 0 || i >= len(n.frames) || o.Type == "" && o.rtype == "" {
		return ""
	}
	fr := values.FrameOf(a.p, n.frames, i)
	if fr == nil {
		return ""
	}
	names := map[string]bool{}
	for _, t := range []string{o.Type, o.rtype} {
		if t != "" {
			names[t], names[lastComponent(t)] = true, true
		}
	}
	params, locals, _ := a.vr.FrameVars(fr)
	for _, v := range append(params, locals...) {
		if v.Err == "" {
			continue
		}
		vt := strings.TrimPrefix(a.vr.TypeName(v), "const ")
		for _, g := range guardTypes {
			if !strings.HasPrefix(vt, g.prefix) {
				continue
			}
			arg := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(vt, g.prefix), ">"))
			if names[arg] || names[lastComponent(arg)] {
				return v.Name + " (" + v.Err + ")"
			}
		}
	}
	return ""
}

// nameFromHits names a heap or stack object from its waiters' frames: the
// path in the outermost-but-nearest frame above the lock library.
func (a *analysis) nameFromHits(o *Object, hs []holders.Hit) {
	sort.SliceStable(hs, func(i, j int) bool {
		if hs[i].Frame != hs[j].Frame {
			return hs[i].Frame < hs[j].Frame
		}
		return len(hs[i].Expr) < len(hs[j].Expr)
	})
	for _, h := range hs {
		n := a.node(hitNode(h))
		expr, typ := a.pathTo(n, h, o)
		if expr == "" {
			continue
		}
		o.Expr, o.How = expr, "frame"
		o.frameSaid = l10n.T("waits.frame-of", "N", h.Frame, "Function", h.Function, "Who", n.Said)
		o.frame = o.frameSaid.String()
		decl, res, _ := strings.Cut(typ, "\x00")
		if decl != "" && o.Type == "" {
			o.Type, o.rtype = decl, res
			if k := a.syncKind(nil, decl, nil); k != "" && (o.Kind == Rutex || o.Kind == Futex) {
				o.Kind = k
			}
		}
		return
	}
}

// pathTo writes the hit as a path to the object itself: a pointer to it
// is dereferenced, an object containing it gets the member path.
func (a *analysis) pathTo(n *Node, h holders.Hit, o *Object) (string, string) {
	fr := values.FrameOf(a.p, n.frames, h.Frame)
	if fr == nil {
		return "", ""
	}
	params, locals, _ := a.vr.FrameVars(fr)
	scope := &values.Scope{Frame: fr, Vars: append(params, locals...)}
	if o.handleType != "" {
		// A channel: the path's last step that is its handle names it.
		for k := len(h.Steps) - 1; k >= 0; k-- {
			v, err := a.vr.Eval(scope, h.Steps[k])
			if err != nil || v == nil || v.Mod == nil || v.Mod.Syms == nil {
				continue
			}
			if decl, res, _ := typeNames(v.Mod.Syms, v.Type); res == o.handleType || decl == o.handleType {
				return h.Steps[k], decl + "\x00" + res
			}
		}
	}
	v, err := a.vr.Eval(scope, h.Expr)
	if err != nil || v == nil || v.Mod == nil || v.Mod.Syms == nil {
		return "", ""
	}
	t := v.Mod.Syms
	decl, _, ty := typeNames(t, v.Type)
	off := h.Offset
	switch h.Relation {
	case holders.Is:
		return h.Expr, decl
	case holders.PointsTo:
		off = 0
		if ty == nil || ty.Kind != symbols.KindPointer {
			// A reference (a guard's _M_device): the object itself.
			if path, _, typ, _, _, ok := a.memberPath(t, v.Type, 0); ok {
				return h.Expr + path, typ
			}
			return h.Expr, decl
		}
	case holders.Contains, holders.PointsInto:
	default:
		return "", ""
	}
	base, sep := v.Type, "."
	if ty != nil && ty.Kind == symbols.KindPointer {
		base, sep = ty.Elem, "->"
	}
	path, _, typ, _, _, ok := a.memberPath(t, base, off)
	if !ok {
		return "", ""
	}
	if path == "" {
		return "*" + h.Expr, typ
	}
	return h.Expr + sep + strings.TrimPrefix(path, "."), typ
}

// objectText says in words what an object is and who holds it.
func (a *analysis) objectText(o *Object) {
	what := l10n.Verbatim(o.Expr)
	if o.Type != "" {
		what = l10n.Verbatim(o.Expr + " (" + o.Type + ")")
	}
	if o.frame != "" {
		what = l10n.T("waits.obj-in-frame", "What", what, "Frame", o.frameSaid)
	}
	kind := l10n.Verbatim(o.Kind)
	var t l10n.Msg
	switch {
	case o.How == "unknown":
		t = l10n.T("waits.obj-unknown", "Kind", kind, "Expr", o.Expr)
	case o.Kind == CoChan:
		if len(o.Notifiers) > 0 {
			t = l10n.T("waits.chan-peer", "What", what, "Who", a.whoMsg(o.Owner), "Frame", o.HoldFrame, "Function", o.HoldFunction, "Expr", o.HoldExpr)
			if len(o.Notifiers) > 1 {
				t = l10n.T("waits.chan-peers", "What", what, "Whos", a.whoListMsg(o.Notifiers))
			}
		} else {
			t = l10n.T("waits.chan-nobody", "What", what)
		}
	case o.Kind == CondVar || o.Kind == CoCondVar:
		if len(o.Notifiers) > 0 {
			t = l10n.T("waits.cond-notifier", "What", what, "Who", a.whoMsg(o.Owner), "Frame", o.HoldFrame, "Function", o.HoldFunction, "Expr", o.HoldExpr)
			if len(o.Notifiers) > 1 {
				t = l10n.T("waits.cond-notifiers", "What", what, "Whos", a.whoListMsg(o.Notifiers))
			}
		} else {
			t = l10n.T("waits.cond-nobody", "What", what)
		}
	case o.Owner != "" && o.Leaked:
		t = l10n.T("waits.obj-leaked", "Kind", kind, "What", what, "Who", a.whoMsg(o.Owner), "How", o.OwnerHow)
	case o.Owner != "" && o.Inferred:
		t = l10n.T("waits.obj-inferred", "Kind", kind, "What", what, "Who", a.whoMsg(o.Owner), "Frame", frameMsg(o.HoldFrame, o.HoldFunction), "Expr", o.HoldExpr)
	case o.Owner != "":
		if o.HoldFrame >= 0 {
			t = l10n.T("waits.obj-held-in", "Kind", kind, "What", what, "Who", a.whoMsg(o.Owner), "How", o.OwnerHow, "Frame", frameMsg(o.HoldFrame, o.HoldFunction), "Expr", o.HoldExpr)
		} else {
			t = l10n.T("waits.obj-held", "Kind", kind, "What", what, "Who", a.whoMsg(o.Owner), "How", o.OwnerHow)
		}
	case o.Locked:
		t = l10n.T("waits.obj-locked", "Kind", kind, "What", what)
		if o.Kind == RWLock {
			t = l10n.T("waits.rwlock-mode", "What", what, "Mode", l10n.Untranslated(o.Mode))
		}
	default:
		t = l10n.T("waits.obj", "Kind", kind, "What", what)
	}
	if o.Mode != "" && (o.Kind == Mutex || o.Kind == CoRWMutex) {
		t = l10n.T("waits.obj-mode", "Text", t, "Mode", l10n.Untranslated(o.Mode))
	}
	if o.OwnerDied {
		t = l10n.T("waits.obj-owner-died", "Text", t)
	}
	if o.Owner != "" && a.node(o.Owner) == nil && o.OwnerLWP > 0 {
		t = l10n.T("waits.obj-owner-exited", "Text", t, "LWP", o.OwnerLWP)
	}
	o.Said, o.Text = t, t.String()
}

// frameMsg is frameText in the catalog's words.
func frameMsg(i int, fn string) l10n.Msg {
	if i < 0 {
		return l10n.T("waits.no-frame")
	}
	return l10n.T("waits.frame", "N", i, "Function", fn)
}

// whoMsg is who in the catalog's words.
func (a *analysis) whoMsg(id string) l10n.Msg {
	if n := a.node(id); n != nil {
		return n.Said
	}
	k, v := splitID(id)
	if k == "lwp" {
		return l10n.T("who.lwp", "LWP", v)
	}
	return l10n.Verbatim(id)
}

// whoListMsg is whoList in the catalog's words.
func (a *analysis) whoListMsg(ids []string) l10n.Msg {
	var out []l10n.Msg
	for _, id := range ids {
		out = append(out, a.whoMsg(id))
	}
	return l10n.Join("sep.comma", out...)
}

// detail sets the node's Detail, said by m.
func (n *Node) detail(m l10n.Msg) { n.DetailSaid, n.Detail = m, m.String() }

func frameText(i int, fn string) string {
	if i < 0 {
		return "no frame"
	}
	return fmt.Sprintf("frame #%d %s", i, fn)
}

func (a *analysis) who(id string) string {
	if n := a.node(id); n != nil {
		return n.Who
	}
	k, v := splitID(id)
	if k == "lwp" {
		return fmt.Sprintf("LWP %d", v)
	}
	return id
}

func (a *analysis) whoList(ids []string) string {
	var out []string
	for _, id := range ids {
		out = append(out, a.who(id))
	}
	return strings.Join(out, ", ")
}

var _ = coreparse.Frame{}

// lastComponent is a qualified name's last part ("hangs::jr_a" → "jr_a").
func lastComponent(name string) string {
	depth := 0
	for i := len(name) - 1; i > 0; i-- {
		switch name[i] {
		case '>', ')':
			depth++
		case '<', '(':
			depth--
		case ':':
			if depth == 0 && name[i-1] == ':' {
				return name[i+1:]
			}
		}
	}
	return name
}
