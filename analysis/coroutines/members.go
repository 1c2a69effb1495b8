package coroutines

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/dsecore/dsecore/coreparse/symbols"
)

// member is a data member of a struct as a key sees it: direct members and
// those of its bases (at their offsets in the struct).
type member struct {
	name string
	off  int64
	typ  *symbols.Type // the member's type, unresolved
}

// def is a struct's definition when t is only a declaration (a pointer's
// target often is).
func (r *resolver) def(t *symbols.Type) *symbols.Type {
	t = r.s.Resolve(t)
	if t != nil && t.Decl && t.Name != "" {
		if d, ok := r.s.LookupType(r.tname(t)); ok {
			return d
		}
	}
	return t
}

func (r *resolver) members(t *symbols.Type) []member {
	var out []member
	var walk func(t *symbols.Type, base int64, depth int)
	walk = func(t *symbols.Type, base int64, depth int) {
		t = r.def(t)
		if t == nil || t.Kind != symbols.KindStruct || depth > 8 {
			return
		}
		for _, b := range t.Bases {
			if bt, err := r.s.TypeAt(b.Type); err == nil {
				walk(bt, base+b.Offset, depth+1)
			}
		}
		for _, m := range t.Members {
			if m.Name == "" || strings.HasPrefix(m.Name, "_vptr") {
				continue
			}
			mt, err := r.s.TypeAt(m.Type)
			if err != nil {
				continue
			}
			out = append(out, member{name: m.Name, off: base + m.Offset, typ: mt})
		}
	}
	walk(t, 0, 0)
	return out
}

// Shapes: what the member a key names must look like.
type shape struct {
	what string // "a pointer to co::Task", for messages
	ok   func(*symbols.Type) bool
}

func (r *resolver) same(a, b *symbols.Type) bool {
	a, b = r.def(a), r.def(b)
	return a != nil && b != nil && (a.Offset == b.Offset || r.tname(a) == r.tname(b))
}

func (r *resolver) ptrTo(target *symbols.Type) shape {
	return shape{"a pointer to " + r.tname(target), func(t *symbols.Type) bool {
		t = r.s.Resolve(t)
		if t == nil || t.Kind != symbols.KindPointer || t.Tag != 0x0f /* DW_TAG_pointer_type */ || t.Elem == 0 {
			return false
		}
		el, err := r.s.TypeAt(t.Elem)
		return err == nil && r.same(el, target)
	}}
}

func (r *resolver) pointer() shape {
	return shape{"a pointer", func(t *symbols.Type) bool {
		t = r.s.Resolve(t)
		return t != nil && t.Kind == symbols.KindPointer
	}}
}

func (r *resolver) integer() shape {
	return shape{"an integer", func(t *symbols.Type) bool {
		t = r.s.Resolve(t)
		if t == nil {
			return false
		}
		if t.Kind == symbols.KindBase {
			return isIntEncoding(t.Encoding) && t.Size <= 8
		}
		if t.Kind == symbols.KindStruct && t.Size <= 8 {
			n := r.tname(t)
			for _, pre := range []string{"std::atomic<", "std::__atomic_base<"} {
				if strings.HasPrefix(n, pre) {
					arg := strings.TrimSuffix(strings.TrimPrefix(n, pre), ">")
					return !strings.Contains(arg, "*") && !strings.Contains(arg, "bool") && !strings.Contains(arg, "float") && !strings.Contains(arg, "double")
				}
			}
		}
		return false
	}}
}

func isIntEncoding(e int64) bool {
	switch e {
	case 0x05, 0x06, 0x07, 0x08: // DW_ATE_signed, signed_char, unsigned, unsigned_char
		return true
	}
	return false
}

func (r *resolver) enum() shape {
	return shape{"an enum", func(t *symbols.Type) bool {
		t = r.s.Resolve(t)
		return t != nil && t.Kind == symbols.KindEnum
	}}
}

func (r *resolver) cstring() shape {
	return shape{"a const char *", func(t *symbols.Type) bool {
		n := r.s.TypeName(t.Offset)
		return n == "const char *" || n == "char *"
	}}
}

// containerOf: std::deque or std::vector of pointers to target.
func (r *resolver) containerOf(target *symbols.Type) shape {
	return shape{"a std::deque or std::vector of " + r.tname(target) + " *", func(t *symbols.Type) bool {
		_, ok := r.containerKind(t, target)
		return ok
	}}
}

func (r *resolver) containerKind(t *symbols.Type, target *symbols.Type) (string, bool) {
	t = r.s.Resolve(t)
	if t == nil || t.Kind != symbols.KindStruct {
		return "", false
	}
	n := symbols.NormalizeTypeName(r.tname(t))
	for kind, pre := range map[string]string{"deque": "std::deque<", "vector": "std::vector<"} {
		if !strings.HasPrefix(n, pre) {
			continue
		}
		if arg := firstTemplateArg(n[len(pre)-1:]); arg == symbols.NormalizeTypeName(r.tname(target))+"*" {
			return kind, true
		}
	}
	return "", false
}

// firstTemplateArg is the first argument of "<A, B<C>>".
func firstTemplateArg(s string) string {
	depth := 0
	for i, c := range s {
		switch c {
		case '<':
			depth++
		case '>':
			depth--
			if depth == 0 {
				return s[1:i]
			}
		case ',':
			if depth == 1 {
				return s[1:i]
			}
		}
	}
	return ""
}

// queueOf: a struct holding a pointer to the hook type (an intrusive queue
// of tasks).
func (r *resolver) queueOf(hook *symbols.Type) shape {
	return shape{"a queue of " + r.tname(hook) + " links", func(t *symbols.Type) bool {
		t = r.def(t)
		if t == nil || t.Kind != symbols.KindStruct {
			return false
		}
		is := r.ptrTo(hook).ok
		for _, m := range r.members(t) {
			if is(m.typ) {
				return true
			}
		}
		return false
	}}
}

// words splits a member name into lower-case words ("runningTask_" →
// running, task; "nTasks_" → n, task).
func words(name string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			w := strings.ToLower(string(cur))
			if len(w) > 3 && strings.HasSuffix(w, "s") {
				w = w[:len(w)-1]
			}
			out = append(out, w)
			cur = cur[:0]
		}
	}
	rs := []rune(name)
	for i, c := range rs {
		switch {
		case c == '_' || c == '.' || unicode.IsDigit(c):
			flush()
		case unicode.IsUpper(c) && i > 0 && !unicode.IsUpper(rs[i-1]):
			flush()
			cur = append(cur, c)
		default:
			cur = append(cur, c)
		}
	}
	flush()
	return out
}

// byName picks, among candidates, the one sharing a word with the
// configured name that not every candidate shares ("taskCount_" and
// "nTasks_" share "task"; "waitQueue_" shares "queue" with every queue,
// which says nothing).
func byName(want string, cands []string) (string, bool) {
	ww := map[string]bool{}
	for _, w := range words(want) {
		ww[w] = true
	}
	common := map[string]int{}
	for _, c := range cands {
		seen := map[string]bool{}
		for _, w := range words(c) {
			if !seen[w] {
				seen[w] = true
				common[w]++
			}
		}
	}
	best, bestScore, tie := "", 0, false
	for _, c := range cands {
		score := 0
		for _, w := range words(c) {
			if ww[w] && common[w] < len(cands) {
				score++
			}
		}
		switch {
		case score > bestScore:
			best, bestScore, tie = c, score, false
		case score == bestScore && score > 0:
			tie = true
		}
	}
	return best, bestScore > 0 && !tie
}

func (r *resolver) claimKey(in *symbols.Type, path string) string {
	return r.tname(in) + "\x00" + path
}

// field resolves a member path of a key exactly; nil when it does not exist.
func (r *resolver) exact(in *symbols.Type, path string) (int64, *symbols.Type, bool) {
	if in == nil || path == "" {
		return missing, nil, false
	}
	off, mt, err := r.s.FieldOffset(in, strings.Split(path, "."))
	if err != nil {
		return missing, nil, false
	}
	// FieldOffset returns the resolved type; the member's own type (for
	// its name and size) is looked up again.
	return off, mt, true
}

// memberType is the declared type of a path's last member (typedefs kept).
func (r *resolver) memberType(in *symbols.Type, path string) *symbols.Type {
	comps := strings.Split(path, ".")
	cur := in
	var last *symbols.Type
	for _, c := range comps {
		var found *symbols.Type
		for _, m := range r.members(cur) {
			if m.name == c {
				found = m.typ
				break
			}
		}
		if found == nil {
			return nil
		}
		last, cur = found, found
	}
	return last
}

// candidates of a path whose component i is missing: members of the
// struct at comps[:i] from which the rest of the path resolves to the
// right shape.
func (r *resolver) candidates(in *symbols.Type, path string, sh shape) (prefix string, at *symbols.Type, cands []string, missingName string) {
	comps := strings.Split(path, ".")
	cur := in
	i := 0
	for ; i < len(comps); i++ {
		if _, mt, err := r.s.FieldOffset(cur, comps[i:i+1]); err == nil {
			cur = mt
			continue
		}
		break
	}
	if i == len(comps) {
		return "", nil, nil, ""
	}
	if i > 0 {
		prefix = strings.Join(comps[:i], ".") + "."
	}
	rest := comps[i+1:]
	for _, m := range r.members(cur) {
		var final *symbols.Type
		if len(rest) == 0 {
			final = m.typ
		} else if _, _, err := r.s.FieldOffset(m.typ, rest); err == nil {
			final = r.memberType(m.typ, strings.Join(rest, "."))
		}
		if final == nil || sh.ok != nil && !sh.ok(final) {
			continue
		}
		c := prefix + m.name
		if len(rest) > 0 {
			c += "." + strings.Join(rest, ".")
		}
		cands = append(cands, c)
	}
	return prefix, cur, cands, comps[i]
}

// resolveMember resolves one member key: exactly, else by adaptation
// (the only candidate of the right shape no other key claims, or the one
// rename the names agree on). It records the key's result and returns the
// offset (missing when it failed) and the member's declared type.
func (r *resolver) resolveMember(key string, in *symbols.Type, want *string, sh shape, required bool) (int64, *symbols.Type) {
	if in == nil {
		return missing, nil
	}
	if *want == "" {
		if required {
			r.failed[key] = true
			r.add(KeyResult{Key: key, Offset: -1, In: r.tname(in), Status: "failed", Note: "required, and the profile leaves it empty"})
		} else {
			r.add(KeyResult{Key: key, Offset: -1, In: r.tname(in), Status: "unset"})
		}
		return missing, nil
	}
	if off, _, ok := r.exact(in, *want); ok {
		mt := r.memberType(in, *want)
		kr := KeyResult{Key: key, Want: *want, Got: *want, In: r.tname(in), Type: r.s.TypeName(mt.Offset), Offset: off, Status: "ok"}
		if sh.ok != nil && !sh.ok(mt) {
			kr.Note = fmt.Sprintf("%s is %s, not %s", *want, kr.Type, sh.what)
		}
		r.claims[r.claimKey(in, *want)] = key
		r.add(kr)
		return off, mt
	}
	// Adaptation.
	_, at, cands, miss := r.candidates(in, *want, sh)
	var free []string
	for _, c := range cands {
		if _, taken := r.claims[r.claimKey(in, c)]; !taken {
			free = append(free, c)
		}
	}
	noMember := fmt.Sprintf("%s has no member %s", r.tname(at), miss)
	list := func() string {
		if len(cands) == 0 {
			return fmt.Sprintf("no member of %s is %s", r.tname(at), sh.what)
		}
		var parts []string
		for _, c := range cands {
			if k, taken := r.claims[r.claimKey(in, c)]; taken {
				parts = append(parts, c+" ("+k+")")
			} else {
				parts = append(parts, c)
			}
		}
		return fmt.Sprintf("members that are %s: %s", sh.what, strings.Join(parts, ", "))
	}
	var got, why string
	switch {
	case len(free) == 1:
		got, why = free[0], "the only one no other key names"
	case len(free) > 1:
		if c, ok := byName(*want, free); ok {
			got, why = c, fmt.Sprintf("the one whose name shares a word with %s (a rename)", *want)
		}
	}
	if got == "" {
		st := "absent"
		if required {
			st = "failed"
			r.failed[key] = true
		}
		note := noMember + "; " + list()
		fix := ""
		if len(free) > 1 {
			note += "; no unambiguous match"
			fix = fmt.Sprintf("%s: one of %s", key, strings.Join(free, ", "))
		}
		r.add(KeyResult{Key: key, Want: *want, In: r.tname(in), Offset: -1, Status: st, Note: note, Fix: fix})
		return missing, nil
	}
	old := *want
	*want = got
	off, _, _ := r.exact(in, got)
	mt := r.memberType(in, got)
	note := fmt.Sprintf("%s; %s; using %s, %s", noMember, list(), got, why)
	r.claims[r.claimKey(in, got)] = key
	r.add(KeyResult{Key: key, Want: old, Got: got, In: r.tname(in), Type: r.s.TypeName(mt.Offset), Offset: off, Status: "adapted",
		Note: note, Fix: r.eff.Line(keyOf(key))})
	return off, mt
}
