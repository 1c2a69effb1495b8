package coroutines

import (
	"fmt"
	"strings"

	"github.com/dsecore/dsecore/coreparse/symbols"
)

// resolveHook finds the queue hook base of the task type: by name, else
// the one base of the task that links to itself and that the Processer's
// queues point to.
func (r *resolver) resolveHook() {
	prof := r.eff
	if off, ok := r.s.BaseOffset(r.task, prof.HookType); ok {
		if h, ok := r.s.LookupType(prof.HookType); ok {
			r.hook = h
			r.l.hook = h
			r.add(KeyResult{Key: "hook_type", Want: prof.HookType, Got: prof.HookType, In: r.tname(r.task), Type: "base class", Offset: off, Status: "ok"})
			return
		}
	}
	var cands []*symbols.Type
	var names []string
	for _, b := range r.bases(r.task) {
		if !r.selfLinked(b) {
			continue
		}
		queued := false
		for _, m := range r.members(r.proc) {
			if r.queueOf(b).ok(m.typ) {
				queued = true
				break
			}
		}
		names = append(names, r.tname(b))
		if queued {
			cands = append(cands, b)
		}
	}
	note := fmt.Sprintf("%s does not derive from %s", r.tname(r.task), prof.HookType)
	if len(cands) == 1 {
		old := prof.HookType
		prof.HookType = r.tname(cands[0])
		r.hook, r.l.hook = cands[0], cands[0]
		off, _ := r.s.BaseOffset(r.task, prof.HookType)
		r.add(KeyResult{Key: "hook_type", Want: old, Got: prof.HookType, In: r.tname(r.task), Type: "base class", Offset: off, Status: "adapted",
			Note: fmt.Sprintf("%s; its self-linked bases: %s; using %s, the one the queues of %s point to", note, strings.Join(names, ", "), prof.HookType, r.tname(r.proc)),
			Fix:  prof.Line("hook_type")})
		return
	}
	r.failed["hook_type"] = true
	if len(names) > 0 {
		note += "; its self-linked bases: " + strings.Join(names, ", ")
	}
	r.add(KeyResult{Key: "hook_type", Want: prof.HookType, In: r.tname(r.task), Offset: -1, Status: "failed", Note: note})
}

func (r *resolver) bases(t *symbols.Type) []*symbols.Type {
	var out []*symbols.Type
	var walk func(t *symbols.Type, depth int)
	walk = func(t *symbols.Type, depth int) {
		t = r.def(t)
		if t == nil || depth > 8 {
			return
		}
		for _, b := range t.Bases {
			if bt, err := r.s.TypeAt(b.Type); err == nil {
				bt = r.def(bt)
				out = append(out, bt)
				walk(bt, depth+1)
			}
		}
	}
	walk(t, 0)
	return out
}

// selfLinked: a struct with a pointer to its own type (a list link).
func (r *resolver) selfLinked(t *symbols.Type) bool {
	is := r.ptrTo(t).ok
	for _, m := range r.members(t) {
		if is(m.typ) {
			return true
		}
	}
	return false
}

// resolveQueues resolves the Processer's queue members: exactly, then
// each missing one as the only queue member no other key names (or the
// one rename the names agree on).
func (r *resolver) resolveQueues() {
	prof := r.eff
	var qs shape
	if r.hook != nil {
		qs = r.queueOf(r.hook)
	} else {
		qs = shape{"a queue", func(*symbols.Type) bool { return false }}
	}
	var all []string // queue-like members of the Processer
	for _, m := range r.members(r.proc) {
		if qs.ok(m.typ) {
			all = append(all, m.name)
		}
	}
	names := sortedKeys(prof.Queues)
	have := map[string]bool{}
	for _, q := range names {
		for _, m := range r.members(r.proc) {
			if m.name == q {
				have[q] = true
			}
		}
	}
	var free []string
	for _, a := range all {
		if _, configured := prof.Queues[a]; !configured {
			free = append(free, a)
		}
	}
	var missingQs []string
	for _, q := range names {
		if !have[q] {
			missingQs = append(missingQs, q)
		}
	}
	adopt := map[string]string{} // missing → member
	why := map[string]string{}
	switch {
	case len(missingQs) == 1 && len(free) == 1:
		adopt[missingQs[0]], why[missingQs[0]] = free[0], "the only one no other key names"
	case len(missingQs) > 0 && len(free) > 0:
		used := map[string]bool{}
		for _, q := range missingQs {
			var left []string
			for _, f := range free {
				if !used[f] {
					left = append(left, f)
				}
			}
			if c, ok := byName(q, left); ok {
				adopt[q], why[q] = c, "the one whose name shares a word with "+q+" (a rename)"
				used[c] = true
			}
		}
	}
	typesOf := func() string {
		seen := map[string]bool{}
		var ts []string
		for _, m := range r.members(r.proc) {
			for _, a := range all {
				if m.name == a && !seen[r.s.TypeName(m.typ.Offset)] {
					seen[r.s.TypeName(m.typ.Offset)] = true
					ts = append(ts, r.tname(r.def(m.typ)))
				}
			}
		}
		return strings.Join(ts, ", ")
	}
	listAll := func() string {
		var parts []string
		for _, a := range all {
			if st, ok := prof.Queues[a]; ok {
				parts = append(parts, a+" ("+st+")")
			} else {
				parts = append(parts, a)
			}
		}
		return strings.Join(parts, ", ")
	}
	queueList, queueTypes := listAll(), typesOf()
	if len(adopt) > 0 {
		nq := map[string]string{}
		for q, st := range prof.Queues {
			if m, ok := adopt[q]; ok {
				nq[m] = st
			} else {
				nq[q] = st
			}
		}
		prof.Queues = nq
	}
	for _, q := range names {
		key := "queues." + q
		st := prof.Queues[q]
		target := q
		if m, ok := adopt[q]; ok {
			target = m
			st = prof.Queues[m]
		}
		off, qt, err := r.s.FieldOffset(r.proc, []string{target})
		switch {
		case err == nil && have[q]:
			r.l.queues[q] = off
			mt := r.memberType(r.proc, q)
			r.add(KeyResult{Key: key, Want: q + ": " + st, Got: q, In: r.tname(r.proc), Type: r.tname(r.def(mt)), Offset: off, Status: "ok"})
			if r.queue == nil || st == "runnable" {
				r.queue = qt
			}
		case err == nil:
			r.l.queues[target] = off
			mt := r.memberType(r.proc, target)
			r.add(KeyResult{Key: key, Want: q + ": " + st, Got: target, In: r.tname(r.proc), Type: r.tname(r.def(mt)), Offset: off, Status: "adapted",
				Note: fmt.Sprintf("%s has no member %s; members of a queue type (%s): %s; using %s, %s", r.tname(r.proc), q, queueTypes, queueList, target, why[q]),
				Fix:  prof.Line("queues")})
			if r.queue == nil || st == "runnable" {
				r.queue = qt
			}
		default:
			note := fmt.Sprintf("%s has no member %s", r.tname(r.proc), q)
			fix := ""
			if len(all) > 0 {
				note += fmt.Sprintf("; members of a queue type (%s): %s", queueTypes, queueList)
				if len(free) > 0 {
					note += "; no unambiguous match"
					fix = fmt.Sprintf("queues: %s is one of %s", q, strings.Join(free, ", "))
				}
			}
			r.add(KeyResult{Key: key, Want: q + ": " + st, In: r.tname(r.proc), Offset: -1, Status: "absent", Note: note, Fix: fix})
		}
	}
	if len(r.l.queues) == 0 {
		r.failed["queues"] = true
	}
	if r.queue != nil {
		r.queue = r.def(r.queue)
	}
}
