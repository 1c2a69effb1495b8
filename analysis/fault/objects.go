package fault

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/coreparse/unwind"
	"github.com/spf13/viper"
)

// Profile is the domain knowledge on top of the generic rules: names of
// states of the objects a list holds, and which functions are "the same
// operation" when two threads meet in them.
type Profile struct {
	Name string `mapstructure:"name"`
	// ElementState names a field of list elements and its values
	// ("state": {0xdead: "returned to the pool"}).
	ElementStateField string           `mapstructure:"element_state_field"`
	ElementStates     map[int64]string `mapstructure:"element_states"`
	// Operations: functions whose concurrent execution is worth flagging.
	Operations []string `mapstructure:"operations"`
	// LogConcurrent: log messages (substrings) that mark the start of an
	// operation; the same one from two threads close in time is flagged.
	LogConcurrent []string `mapstructure:"log_concurrent"`
}

// DefaultProfileName names the built-in profile used when none is named.
const DefaultProfileName = "dcache"

// DefaultProfile is the dcache profile of ceph-dse.
func DefaultProfile() *Profile {
	return &Profile{
		Name:              DefaultProfileName,
		ElementStateField: "state",
		ElementStates:     map[int64]string{0xdead: "returned to the dcache pool (disposed)"},
		Operations:        []string{"lsm_destroy", "lsm_release_all_csdobj", "dm_hash_node_t::clear", "dm_hash_node_t::release_obj", "DCache_shutdown"},
		LogConcurrent:     []string{"lsm_destroy start", "DCache_shutdown:start", "release all csd obj"},
	}
}

// LoadProfile reads a fault-analysis profile: "" or "dcache" for the
// built-in one, else a YAML file.
func LoadProfile(nameOrPath string) (*Profile, error) {
	if nameOrPath == "" || nameOrPath == DefaultProfileName {
		return DefaultProfile(), nil
	}
	if _, err := os.Stat(nameOrPath); err != nil {
		return nil, fmt.Errorf("analysis profile %q: not \"dcache\" and not a file: %w", nameOrPath, err)
	}
	v := viper.New()
	v.SetConfigFile(nameOrPath)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		return nil, err
	}
	p := DefaultProfile()
	if v.IsSet("element_states") {
		p.ElementStates = map[int64]string{}
	}
	if err := v.Unmarshal(p); err != nil {
		return nil, err
	}
	return p, nil
}

// Object is a typed object the analysis found.
type Object struct {
	Role    string // "owner" (the object whose method faulted), "element", "list header"
	Type    string
	Address uint64
	How     string // how it was found
	Fields  map[string]string
}

// ListWalk is a bounded walk of an intrusive list from its header.
type ListWalk struct {
	Header        uint64
	ListType      string
	Element       string // element type
	HookOffset    int64  // offset of the hook in the element
	HookHow       string // "DWARF (…)", "code: sub $0x130" …
	Nodes         []ListNode
	SizeField     uint64
	HasSize       bool
	SizeSigned    int64
	Findings      []string
	Empty         bool // the header links to itself
	FirstNull     uint64
	Unlinked      bool // the list header was reset / the range unlinked
	SizeUnderflow bool
}

// ListNode is one node reached by the walk.
type ListNode struct {
	Hook    uint64
	Element uint64
	Next    uint64
	Prev    uint64
	State   string
	Problem string
}

var mhtraitsRE = regexp.MustCompile(`mhtraits<([^,<>]+(?:<[^<>]*>)?), .*&([\w:]+)::(\w+)>`)

// hookOffset finds the element type and the hook offset for the intrusive
// container being walked at the fault: from the member hook named in the
// list's template arguments (DWARF), else from the code (sub/lea of a
// constant from a copy of the node pointer).
func (a *Analysis) hookOffset() (elem string, off int64, how string) {
	f := a.Fault
	for _, fr := range f.Frames {
		m := mhtraitsRE.FindStringSubmatch(fr.Function)
		if m == nil {
			continue
		}
		elem = strings.TrimSpace(m[1])
		member := m[3]
		if mod := a.p.ModuleAt(f.Context.PC); mod != nil && mod.Syms != nil {
			if ty, ok := mod.Syms.LookupType(elem); ok {
				if o, _, err := mod.Syms.FieldOffset(ty, []string{member}); err == nil {
					off, how = o, fmt.Sprintf("DWARF: %s::%s, the member hook named in the list's template arguments", elem, member)
				}
			}
		}
		break
	}
	// The code: "sub $N,%reg" or "lea -N(%reg),%reg2" near the fault.
	if f.Window != nil {
		re := regexp.MustCompile(`(?:sub\s+\$0x([0-9a-f]+),%\w+|lea\s+-0x([0-9a-f]+)\(%\w+\),%\w+)`)
		for _, in := range f.Window.Insts {
			if m := re.FindStringSubmatch(in.ATT); m != nil {
				h := m[1] + m[2]
				var v int64
				fmt.Sscanf(h, "%x", &v)
				if v >= 8 && v < 1<<16 {
					code := fmt.Sprintf("code: %s at %#x", in.ATT, in.Addr)
					if how == "" {
						off, how = v, code
					} else if v == off {
						how += "; the code agrees (" + code + ")"
					}
					break
				}
			}
		}
	}
	return elem, off, how
}

// findObjects recovers the object whose method faulted and walks its
// intrusive list.
func (a *Analysis) findObjects() {
	f := a.Fault
	p := a.p
	if len(f.Frames) == 0 {
		return
	}
	concrete := f.Frames[len(f.Frames)-1]
	class := ""
	if i := strings.LastIndex(concrete.Function, "::"); i > 0 {
		class = concrete.Function[:i]
	}
	mod := p.ModuleAt(f.Context.PC)
	if class == "" || mod == nil || mod.Syms == nil {
		return
	}
	syms := mod.Syms
	ty, ok := syms.LookupType(class)
	if !ok {
		return
	}
	// The intrusive list members of the class.
	type listMember struct {
		name   string
		off    int64
		typ    *symbols.Type
		header int64
		size   int64
	}
	var lists []listMember
	for _, mem := range ty.Members {
		mt, err := syms.TypeAt(mem.Type)
		if err != nil {
			continue
		}
		mt = syms.Resolve(mt)
		if mt == nil || mt.Kind != symbols.KindStruct || !strings.HasPrefix(mt.Name, "list<") && !strings.HasPrefix(mt.Name, "list_impl<") && !strings.HasPrefix(mt.Name, "slist<") {
			continue
		}
		lm := listMember{name: mem.Name, off: mem.Offset, typ: mt, header: -1, size: -1}
		if o, _, err := syms.FieldOffset(mt, []string{"data_", "root_plus_size_", "m_header"}); err == nil {
			lm.header = o
		}
		if o, _, err := syms.FieldOffset(mt, []string{"data_", "root_plus_size_", "size_"}); err == nil {
			lm.size = o
		}
		if lm.header >= 0 {
			lists = append(lists, lm)
		}
	}
	// `this`: a register or a stack word of the fault frame that points to
	// a class object whose list header is a sane ring.
	cands := a.pointerCandidates()
	var owner uint64
	var ownerHow string
	var lm listMember
	for _, c := range cands {
		for _, l := range lists {
			h := c.value + uint64(l.off+l.header)
			next, err1 := p.Core.ReadUint64(h)
			prev, err2 := p.Core.ReadUint64(h + 8)
			if err1 != nil || err2 != nil || next == 0 || prev == 0 || !p.Core.Readable(next) || !p.Core.Readable(prev) {
				continue
			}
			if n2, err := p.Core.ReadUint64(prev); err != nil || n2 == 0 {
				continue
			}
			owner, ownerHow, lm = c.value, c.where, l
			break
		}
		if owner != 0 {
			break
		}
	}
	elem, hookOff, hookHow := a.hookOffset()
	if owner == 0 {
		if hookHow != "" {
			a.Objects = append(a.Objects, Object{Role: "hook offset", Type: elem, How: hookHow, Fields: map[string]string{"offset": fmt.Sprintf("%#x", hookOff)}})
		}
		return
	}
	obj := Object{Role: "owner", Type: class, Address: owner,
		How:    "`this` of " + concrete.Function + "(), recovered from " + ownerHow + " (the DWARF location of `this` is not evaluated)",
		Fields: map[string]string{}}
	for _, mem := range ty.Members {
		mt, err := syms.TypeAt(mem.Type)
		if err != nil {
			continue
		}
		mt = syms.Resolve(mt)
		if mt != nil && (mt.Kind == symbols.KindBase || mt.Kind == symbols.KindEnum) && mt.Size > 0 && mt.Size <= 8 {
			v, err := p.Core.ReadUint64(owner + uint64(mem.Offset))
			if err == nil {
				if mt.Size < 8 {
					v &= 1<<(8*uint(mt.Size)) - 1
				}
				obj.Fields[mem.Name] = fmt.Sprintf("%#x", v)
			}
		}
	}
	a.Objects = append(a.Objects, obj)
	w := &ListWalk{Header: owner + uint64(lm.off+lm.header), ListType: class + "::" + lm.name, Element: elem, HookOffset: hookOff, HookHow: hookHow}
	if lm.size >= 0 {
		if v, err := p.Core.ReadUint64(owner + uint64(lm.off+lm.size)); err == nil {
			w.SizeField, w.HasSize, w.SizeSigned = v, true, int64(v)
		}
	}
	a.walkList(w)
	a.ListWalk = w
	a.Objects = append(a.Objects, Object{Role: "list header", Type: class + "::" + lm.name, Address: w.Header, How: "member " + lm.name + " of the owner",
		Fields: map[string]string{"size_": fmt.Sprintf("%d", w.SizeSigned)}})
}

type candidate struct {
	value uint64
	where string
}

// pointerCandidates: the fault frame's registers (callee-saved ones first,
// where `this` survives calls), then words of its stack frame.
func (a *Analysis) pointerCandidates() []candidate {
	fc := a.Fault.Context
	var out []candidate
	order := []int{unwind.RBP, unwind.RBX, unwind.R12, unwind.R13, unwind.R14, unwind.R15, unwind.RDI, unwind.RSI, unwind.RAX, unwind.RCX, unwind.RDX, unwind.R8, unwind.R9}
	for _, n := range order {
		if v, ok := fc.Regs.Get(n); ok && v >= 4096 && a.p.Core.Readable(v) {
			out = append(out, candidate{v, "register %" + unwind.RegName(n)})
		}
	}
	rsp := fc.Regs.V[unwind.RSP]
	for off := uint64(0); off < 0x200; off += 8 {
		if v, err := a.p.Core.ReadUint64(rsp + off); err == nil && v >= 4096 && a.p.Core.Readable(v) {
			out = append(out, candidate{v, fmt.Sprintf("the stack slot %#x (rsp+%#x)", rsp+off, off)})
		}
	}
	return out
}

// walkList follows next_ links from the header, bounded.
func (a *Analysis) walkList(w *ListWalk) {
	p := a.p
	const bound = 100000
	next, _ := p.Core.ReadUint64(w.Header)
	prevHdr, _ := p.Core.ReadUint64(w.Header + 8)
	if next == w.Header && prevHdr == w.Header {
		w.Empty = true
		w.Findings = append(w.Findings, "the list header links to itself: the list is empty (its nodes were unlinked)")
	}
	if !w.Empty && (next == w.Header) != (prevHdr == w.Header) {
		other := next
		if next == w.Header {
			other = prevHdr
		}
		msg := fmt.Sprintf("the header is inconsistent: next_ = %#x, prev_ = %#x (one link to itself, one to node %#x): its range was unlinked while another erase relinked a neighbour", next, prevHdr, other)
		if st := a.elementState(other-uint64(w.HookOffset), w.Element); st != "" {
			msg += fmt.Sprintf("; that node's %s is %s", w.Element, st)
		}
		w.Unlinked = true
		w.Findings = append(w.Findings, msg)
	}
	prev := w.Header
	seen := map[uint64]bool{}
	for n := next; n != w.Header && len(w.Nodes) < bound; {
		if n == 0 {
			w.FirstNull = prev
			w.Findings = append(w.Findings, fmt.Sprintf("NULL next_ link after node %#x: a node's links were reset (safe-link init) while still reachable", prev))
			break
		}
		if !p.Core.Readable(n) {
			w.Findings = append(w.Findings, fmt.Sprintf("link into unmapped memory: %#x after node %#x", n, prev))
			break
		}
		if seen[n] {
			w.Findings = append(w.Findings, fmt.Sprintf("a cycle that misses the header at node %#x", n))
			break
		}
		seen[n] = true
		nn, _ := p.Core.ReadUint64(n)
		np, _ := p.Core.ReadUint64(n + 8)
		node := ListNode{Hook: n, Element: n - uint64(w.HookOffset), Next: nn, Prev: np}
		if np != prev {
			node.Problem = fmt.Sprintf("prev_ = %#x, but the node before is %#x", np, prev)
		}
		node.State = a.elementState(node.Element, w.Element)
		w.Nodes = append(w.Nodes, node)
		prev, n = n, nn
	}
	if w.HasSize {
		switch {
		case w.SizeSigned < 0:
			w.SizeUnderflow = true
			w.Findings = append(w.Findings, fmt.Sprintf("the list's size_ is %d (underflowed): more erases than elements, the mark of a concurrent erase of the same nodes", w.SizeSigned))
		case uint64(len(w.Nodes)) != w.SizeField:
			w.Findings = append(w.Findings, fmt.Sprintf("the list's size_ is %d but the walk found %d nodes", w.SizeField, len(w.Nodes)))
		}
	}
}

func (a *Analysis) elementState(addr uint64, elem string) string {
	prof := a.o.Profile
	if prof == nil || prof.ElementStateField == "" || elem == "" {
		return ""
	}
	mod := a.p.ModuleAt(a.Fault.Context.PC)
	if mod == nil || mod.Syms == nil {
		return ""
	}
	ty, ok := mod.Syms.LookupType(elem)
	if !ok {
		return ""
	}
	off, st, err := mod.Syms.FieldOffset(ty, []string{prof.ElementStateField})
	if err != nil || st == nil {
		return ""
	}
	v, err := a.p.Core.ReadUint32(addr + uint64(off))
	if err != nil {
		return "unreadable"
	}
	if name, ok := prof.ElementStates[int64(v)]; ok {
		return name
	}
	return fmt.Sprintf("%s=%#x", prof.ElementStateField, v)
}
