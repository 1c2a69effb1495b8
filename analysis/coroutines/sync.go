package coroutines

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/internal/yamlfile"
)

// The sync primitives' keys of a profile: how a coroutine waits in the
// runtime's own locks. libgo's routine_sync (libgo/routine_sync upstream)
// builds every primitive on a Rutex, a futex for coroutines: a waiter
// (RutexWaiter, on the waiting stack) links itself into the Rutex's list of
// waiters and points back at the Rutex (owner_); co_mutex (libgo::Mutex)
// and co_condition_variable hold one Rutex, co_rwmutex (libgo::SharedMutex)
// two (readers_, writers_), a co_chan's shared state (ChannelImpl) a Mutex
// and two conditions. dsecore waits reads a waiting task through these
// keys: its waiter, the Rutex the waiter is queued on (confirmed by walking
// that Rutex's list), and the primitive containing the Rutex.

// SyncKinds are the kinds a sync_types entry may give.
var SyncKinds = []string{"co_mutex", "co_rwmutex", "co_condvar", "co_chan"}

// withLibgoSync sets upstream libgo's names.
func (p Profile) withLibgoSync() Profile {
	p.RutexType = "libgo::RutexBase"
	p.RutexWaiters = "waiters_.head_"
	p.WaiterType = "libgo::RutexWaiter"
	p.WaiterNext = "next"
	p.WaiterRutex = "owner_"
	p.SyncTypes = map[string]string{"libgo::Mutex": "co_mutex", "libgo::SharedMutex": "co_rwmutex",
		"libgo::ConditionVariable": "co_condvar", "libgo::ChannelImplWithSignal": "co_chan"}
	p.RWMutexWriters = "writers_"
	return p
}

// validateSync checks the sync keys' values (all optional).
func (p *Profile) validateSync(f *yamlfile.Fields, path func(key, v string, required bool)) {
	typ := func(key, v string) {
		if v != "" && (!typeName().MatchString(v) || strings.Count(v, "<") != strings.Count(v, ">")) {
			f.ErrorAt(key, key, "%q is not a C++ type name", v)
		}
	}
	typ("rutex_type", p.RutexType)
	typ("waiter_type", p.WaiterType)
	path("rutex_waiters", p.RutexWaiters, false)
	path("waiter_next", p.WaiterNext, false)
	path("waiter_rutex", p.WaiterRutex, false)
	path("rwmutex_writers", p.RWMutexWriters, false)
	for _, t := range sortedKeys(p.SyncTypes) {
		key := "sync_types." + t
		typ(key, t)
		if k := p.SyncTypes[t]; !contains(SyncKinds, k) {
			f.ErrorAt(key, key, "kind %q: one of %s", k, strings.Join(SyncKinds, ", "))
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// SyncLayout is the sync keys resolved in a core's DWARF: what dsecore
// waits reads a Rutex wait with. Offsets are from DWARF; names are the
// resolved (possibly adapted) ones.
type SyncLayout struct {
	Module *coreparse.Module
	// Waiter is the waiter type's name; WaiterRutex and WaiterNext the
	// offsets of its Rutex pointer and of its next waiter's link; Hook the
	// offset in the waiter of the struct the links point to.
	Waiter                        string
	WaiterRutex, WaiterNext, Hook int64
	// Rutex is the queue holder's type name (the waiter's pointer points
	// to one); Head the offset in it of the first waiter's link.
	Rutex string
	Head  int64
	// Types maps a primitive type's name (a class template's name stands
	// for every instantiation) to its kind.
	Types map[string]string
	// RWMutex is the co_rwmutex type's name, Writers the offset in it of
	// the Rutex holder its writers wait on (-1: unknown), WritersWord of
	// that Rutex's value (its first word: upstream's Rutex derives from
	// IntValue first), the rwmutex's lock word.
	RWMutex              string
	Writers, WritersWord int64
	// Namespaces are the namespaces of the resolved types ("libgo::"):
	// their functions are the primitives' code, not the caller's.
	Namespaces []string
}

// Sync is the runtime's sync primitives as this core's DWARF has them; nil
// when the profile's sync keys did not resolve (a runtime without them).
func (rt *Runtime) Sync() *SyncLayout {
	if rt == nil || rt.Resolution == nil {
		return nil
	}
	return rt.Resolution.sync
}

// syncKeys are the profile keys of the sync primitives.
var syncKeys = []string{"rutex_type", "rutex_waiters", "waiter_type", "waiter_next", "waiter_rutex", "sync_types", "rwmutex_writers"}

// SyncWarnings are the runtime's warnings about the sync keys: each
// adaptation (loud, with the profile line that makes it explicit) and each
// failure, for the faces that read the primitives' waits.
func (rt *Runtime) SyncWarnings() []string {
	if rt == nil || rt.Resolution == nil {
		return nil
	}
	var out []string
	for _, k := range rt.Resolution.Keys {
		if !contains(syncKeys, keyOf(k.Key)) {
			continue
		}
		switch k.Status {
		case "adapted":
			out = append(out, fmt.Sprintf("PROFILE ADAPTED (%s): %s: %s; to say so in the profile: %s", rt.Profile, k.Key, k.Note, k.Fix))
		case "failed":
			out = append(out, fmt.Sprintf("profile %s: %s: %s", rt.Profile, k.Key, k.Note))
		}
	}
	return out
}

// KindOf is the kind of a primitive type: its own name's, else the first
// base's that has one (co::CoRWMutex derives from libgo::SharedMutex). ""
// when it is none.
func (sl *SyncLayout) KindOf(s *symbols.Table, t *symbols.Type) string {
	return sl.kindOf(s, t, 0)
}

func (sl *SyncLayout) kindOf(s *symbols.Table, t *symbols.Type, depth int) string {
	t = s.Resolve(t)
	if t == nil || depth > 8 {
		return ""
	}
	if k := sl.KindOfName(s.TypeName(t.Offset)); k != "" {
		return k
	}
	if k := sl.KindOfName(t.Name); k != "" {
		return k
	}
	for _, b := range t.Bases {
		if bt, err := s.TypeAt(b.Type); err == nil {
			if k := sl.kindOf(s, bt, depth+1); k != "" {
				return k
			}
		}
	}
	return ""
}

// KindOfName is the kind a type name has by itself ("" when none).
func (sl *SyncLayout) KindOfName(name string) string {
	name = strings.TrimPrefix(strings.TrimPrefix(name, "const "), "volatile ")
	if k, ok := sl.Types[name]; ok {
		return k
	}
	if i := strings.IndexByte(name, '<'); i > 0 {
		return sl.Types[name[:i]]
	}
	return ""
}

// InNamespace says whether a function is the primitives' own code.
func (sl *SyncLayout) InNamespace(fn string) bool {
	for _, ns := range sl.Namespaces {
		if strings.HasPrefix(fn, ns) {
			return true
		}
	}
	return false
}

// Queue reads a Rutex holder's list of waiters (their addresses, in queue
// order), at most limit; ok is false when the list cannot be read to its
// end (unreadable memory, a cycle, the limit).
func (sl *SyncLayout) Queue(p *coreparse.Process, rutex uint64, limit int) (waiters []uint64, ok bool) {
	link, good := readPtr(p, rutex+uint64(sl.Head))
	seen := map[uint64]bool{}
	for good && link != 0 {
		w := link - uint64(sl.Hook)
		if seen[w] || len(waiters) >= limit {
			return waiters, false
		}
		seen[w] = true
		waiters = append(waiters, w)
		link, good = readPtr(p, w+uint64(sl.WaiterNext))
	}
	return waiters, good
}

// RutexOf reads the Rutex holder a waiter points to (0: none, woken).
func (sl *SyncLayout) RutexOf(p *coreparse.Process, waiter uint64) (uint64, bool) {
	return readPtr(p, waiter+uint64(sl.WaiterRutex))
}

func readPtr(p *coreparse.Process, addr uint64) (uint64, bool) {
	var b [8]byte
	if n, _ := p.Core.ReadAt(b[:], addr); n != 8 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[:]), true
}

// resolveSync resolves the sync keys in the runtime's module: exactly,
// else adapted as the other keys are (the only member of the right shape
// no other key names; a primitive type by the shape of its Rutexes), each
// adaptation loud. They are optional: a build without the configured
// waiter type has none ("absent", no warning).
func (r *resolver) resolveSync() *SyncLayout {
	prof := r.eff
	if prof.WaiterType == "" && prof.RutexType == "" && len(prof.SyncTypes) == 0 {
		for _, k := range syncKeys {
			r.add(KeyResult{Key: k, Offset: -1, Status: "unset"})
		}
		return nil
	}
	waiter, ok1 := r.s.LookupType(prof.WaiterType)
	rutex, ok2 := r.s.LookupType(prof.RutexType)
	if !ok1 || !ok2 || waiter.Kind != symbols.KindStruct || rutex.Kind != symbols.KindStruct {
		note := "not in this build: no routine_sync primitives to read"
		for _, k := range []struct {
			key, want string
			ok        bool
		}{{"rutex_type", prof.RutexType, ok2}, {"waiter_type", prof.WaiterType, ok1}} {
			kr := KeyResult{Key: k.key, Want: k.want, Offset: -1, Status: "absent", Note: "type " + k.want + " " + note}
			if k.ok {
				kr.Status, kr.Got, kr.Note = "ok", k.want, ""
			}
			r.add(kr)
		}
		return nil
	}
	r.add(KeyResult{Key: "rutex_type", Want: prof.RutexType, Got: prof.RutexType, Type: fmt.Sprintf("%d bytes", rutex.Size), Offset: -1, Status: "ok"})
	r.add(KeyResult{Key: "waiter_type", Want: prof.WaiterType, Got: prof.WaiterType, Type: fmt.Sprintf("%d bytes", waiter.Size), Offset: -1, Status: "ok"})
	sl := &SyncLayout{Module: r.mod, Waiter: prof.WaiterType, Rutex: prof.RutexType, Writers: -1, Types: map[string]string{}}
	// The waiter's links point to its self-linked base (libgo::LinkedNode).
	var hook *symbols.Type
	for _, b := range append([]*symbols.Type{waiter}, r.bases(waiter)...) {
		if r.selfLinked(b) {
			hook = b
			break
		}
	}
	if hook == nil {
		r.add(KeyResult{Key: "waiter_next", Want: prof.WaiterNext, In: r.tname(waiter), Offset: -1, Status: "absent",
			Note: r.tname(waiter) + " has no self-linked base (a list node the waiters' list links)"})
		return nil
	}
	if !r.same(hook, waiter) {
		sl.Hook, _ = r.s.BaseOffset(waiter, r.tname(hook))
	}
	// owner_ is a std::atomic<RutexBase *>: a pointer inside an atomic
	// counts (libstdc++'s _M_b._M_p).
	var isPtr func(t *symbols.Type, depth int) bool
	isPtr = func(t *symbols.Type, depth int) bool {
		if r.ptrTo(rutex).ok(t) {
			return true
		}
		at := r.def(t)
		if depth > 2 || at == nil || at.Kind != symbols.KindStruct {
			return false
		}
		if n := r.tname(at); depth == 0 && !strings.HasPrefix(n, "std::atomic<") {
			return false
		}
		for _, m := range r.members(at) {
			if isPtr(m.typ, depth+1) {
				return true
			}
		}
		return false
	}
	ptrToRutex := shape{"a pointer to " + r.tname(rutex), func(t *symbols.Type) bool { return isPtr(t, 0) }}
	var failed bool
	member := func(key string, in *symbols.Type, want *string, sh shape) int64 {
		off, _ := r.resolveMember(key, in, want, sh, false)
		if off == missing {
			failed = true
		}
		return off
	}
	sl.WaiterNext = member("waiter_next", waiter, &prof.WaiterNext, r.ptrTo(hook))
	sl.WaiterRutex = member("waiter_rutex", waiter, &prof.WaiterRutex, ptrToRutex)
	sl.Head = member("rutex_waiters", rutex, &prof.RutexWaiters, r.ptrTo(hook))
	r.resolveSyncTypes(sl, rutex)
	if failed {
		r.warnAbsentSync()
		return nil
	}
	for _, n := range append([]string{sl.Waiter, sl.Rutex}, sortedKeys(sl.Types)...) {
		if i := strings.LastIndex(n, "::"); i > 0 && !strings.Contains(n[:i], "<") {
			if ns := n[:i+2]; !contains(sl.Namespaces, ns) {
				sl.Namespaces = append(sl.Namespaces, ns)
			}
		}
	}
	return sl
}

// warnAbsentSync turns the sync keys that did not resolve into failures
// worth a warning: the waiter type is there, so the build has the
// primitives, and their waits cannot be read.
func (r *resolver) warnAbsentSync() {
	for i := range r.res.Keys {
		k := &r.res.Keys[i]
		if (k.Key == "waiter_next" || k.Key == "waiter_rutex" || k.Key == "rutex_waiters") && k.Status == "absent" {
			k.Status = "failed"
			k.Note += " (the coroutine sync primitives' waits are not read)"
		}
	}
}

// resolveSyncTypes resolves each primitive type: by name (a class
// template's name by its instantiations), else by shape: a co_rwmutex
// holds two Rutexes, a co_mutex or co_condvar one (telling the two apart
// needs the other to be found), a co_chan a co_mutex and two co_condvars.
// Adapted types keep their kind.
func (r *resolver) resolveSyncTypes(sl *SyncLayout, rutex *symbols.Type) {
	prof := r.eff
	var names []string // every type name, read once when a name is not found
	typeNames := func() []string {
		if names == nil {
			names = r.s.TypeNames()
		}
		return names
	}
	find := func(name string) (*symbols.Type, bool) {
		if t, ok := r.s.LookupType(name); ok && t.Kind == symbols.KindStruct {
			return t, true
		}
		for _, n := range typeNames() {
			if strings.HasPrefix(n, name+"<") {
				if t, ok := r.s.LookupType(n); ok && t.Kind == symbols.KindStruct {
					return t, true
				}
			}
		}
		return nil, false
	}
	found := map[string]*symbols.Type{} // configured name → a type of that name
	adapted := map[string]bool{}
	var missingTs []string
	for _, name := range sortedKeys(prof.SyncTypes) {
		if t, ok := find(name); ok {
			found[name] = t
			sl.Types[name] = prof.SyncTypes[name]
		} else {
			missingTs = append(missingTs, name)
		}
	}
	// Rutex members: the members whose type derives from the Rutex holder.
	rutexes := func(t *symbols.Type) []member {
		var out []member
		for _, m := range r.members(t) {
			mt := r.def(m.typ)
			if mt == nil || mt.Kind != symbols.KindStruct {
				continue
			}
			if r.same(mt, rutex) {
				out = append(out, m)
				continue
			}
			if _, ok := r.s.BaseOffset(mt, r.tname(rutex)); ok {
				out = append(out, m)
			}
		}
		return out
	}
	kindOf := map[string]string{} // resolved type name → kind
	for n, t := range found {
		kindOf[r.tname(t)] = prof.SyncTypes[n]
	}
	shapeKind := func(t *symbols.Type) string {
		rs := rutexes(t)
		switch len(rs) {
		case 2:
			return "co_rwmutex"
		case 1:
			return "co_mutex|co_condvar"
		}
		mut, cv := 0, 0
		for _, m := range r.members(t) {
			switch kindOf[r.tname(r.def(m.typ))] {
			case "co_mutex":
				mut++
			case "co_condvar":
				cv++
			}
		}
		if mut == 1 && cv == 2 {
			return "co_chan"
		}
		return ""
	}
	fits := func(shapeK, kind string) bool {
		return shapeK == kind || shapeK == "co_mutex|co_condvar" && (kind == "co_mutex" || kind == "co_condvar")
	}
	if len(missingTs) > 0 {
		// Candidates: the structs of the namespaces the waiter and the
		// found primitives live in, not already a primitive nor deriving
		// from one.
		var nss []string
		for _, n := range append([]string{prof.WaiterType, prof.RutexType}, sortedKeys(found)...) {
			if i := strings.LastIndex(n, "::"); i > 0 && !contains(nss, n[:i+2]) {
				nss = append(nss, n[:i+2])
			}
		}
		byKind := map[string][]string{}
		seen := map[string]bool{}
		for _, n := range typeNames() {
			in := false
			for _, ns := range nss {
				in = in || strings.HasPrefix(n, ns) && !strings.Contains(n[len(ns):], "::")
			}
			base, _, _ := strings.Cut(n, "<")
			if !in || seen[base] || kindOf[n] != "" {
				continue
			}
			t, ok := r.s.LookupType(n)
			if !ok || t.Kind != symbols.KindStruct || r.same(t, rutex) {
				continue
			}
			derived := false
			for _, b := range r.bases(t) {
				derived = derived || kindOf[r.tname(b)] != "" || r.same(b, rutex)
			}
			if derived {
				continue
			}
			if k := shapeKind(t); k != "" {
				seen[base] = true
				byKind[k] = append(byKind[k], base)
			}
		}
		for _, name := range missingTs {
			kind := prof.SyncTypes[name]
			var cands []string
			for k, ns := range byKind {
				if fits(k, kind) {
					cands = append(cands, ns...)
				}
			}
			sort.Strings(cands)
			key := "sync_types." + name
			note := fmt.Sprintf("type %s not found in %s's DWARF", name, r.mod.BaseName())
			what := map[string]string{"co_rwmutex": "two Rutex members (readers and writers)", "co_mutex": "one Rutex member",
				"co_condvar": "one Rutex member", "co_chan": "a co_mutex and two co_condvar members"}[kind]
			if len(cands) != 1 {
				if len(cands) > 1 {
					note += fmt.Sprintf("; types with %s: %s; no unambiguous match", what, strings.Join(cands, ", "))
				}
				r.add(KeyResult{Key: key, Want: name + ": " + kind, Offset: -1, Status: "absent", Note: note})
				continue
			}
			got := cands[0]
			nt := map[string]string{}
			for k, v := range prof.SyncTypes {
				if k == name {
					k = got
				}
				nt[k] = v
			}
			prof.SyncTypes = nt
			adapted[got] = true
			sl.Types[got] = kind
			t, _ := find(got)
			found[got] = t
			r.add(KeyResult{Key: key, Want: name + ": " + kind, Got: got, Type: fmt.Sprintf("%d bytes", t.Size), Offset: -1, Status: "adapted",
				Note: fmt.Sprintf("%s; %s has its shape (%s) and is no other primitive; using %s", note, got, what, got), Fix: prof.Line("sync_types")})
		}
	}
	for _, name := range sortedKeys(prof.SyncTypes) {
		t := found[name]
		if t == nil {
			continue
		}
		kind := prof.SyncTypes[name]
		if !adapted[name] {
			kr := KeyResult{Key: "sync_types." + name, Want: name + ": " + kind, Got: name, Type: fmt.Sprintf("%d bytes", t.Size), Offset: -1, Status: "ok"}
			if sk := shapeKind(t); sk != "" && !fits(sk, kind) {
				kr.Note = fmt.Sprintf("%s has the shape of a %s", name, sk)
			}
			r.add(kr)
		}
		if kind != "co_rwmutex" {
			continue
		}
		// The writers' Rutex: where a waiter on it waits for the write side.
		sl.RWMutex = name
		sh := shape{"a Rutex (a struct deriving from " + r.tname(rutex) + ")", func(mt *symbols.Type) bool {
			mt = r.def(mt)
			if mt == nil || mt.Kind != symbols.KindStruct {
				return false
			}
			_, ok := r.s.BaseOffset(mt, r.tname(rutex))
			return ok || r.same(mt, rutex)
		}}
		off, mt := r.resolveMember("rwmutex_writers", t, &prof.RWMutexWriters, sh, false)
		if off != missing && mt != nil {
			b, _ := r.s.BaseOffset(mt, r.tname(rutex))
			sl.Writers, sl.WritersWord = off+b, off
		}
	}
	if sl.RWMutex == "" {
		r.add(KeyResult{Key: "rwmutex_writers", Want: prof.RWMutexWriters, Offset: -1, Status: "absent", Note: "no co_rwmutex type in this build"})
	}
}
