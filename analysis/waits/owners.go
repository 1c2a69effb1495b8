package waits

import (
	"fmt"
	"sort"
	"strings"

	"github.com/dsecore/dsecore/analysis/heap"
	"github.com/dsecore/dsecore/analysis/holders"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/l10n"
)

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
			res.Bounds = append(res.Bounds, bound("objects", len(res.Objects)-i,
				l10n.T("waits.bound-objects", "N", a.o.MaxObjects, "Max", a.o.MaxObjects)))
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
			res.Bounds = append(res.Bounds, Bound{Bound: "holders:" + b.Bound, Count: b.Count, Text: b.Text, Said: b.Said})
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
			if !v.Absent() {
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
				o.HoldExpr = v.Name + " (" + v.AbsentText() + ")"
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
		if !v.Absent() {
			continue
		}
		vt := strings.TrimPrefix(a.vr.TypeName(v), "const ")
		for _, g := range guardTypes {
			if !strings.HasPrefix(vt, g.prefix) {
				continue
			}
			arg := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(vt, g.prefix), ">"))
			if names[arg] || names[lastComponent(arg)] {
				return v.Name + " (" + v.AbsentText() + ")"
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
