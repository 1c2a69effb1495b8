package values

import (
	"debug/dwarf"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/internal/l10n"
)

// The one walker of boost::intrusive lists (circular, doubly linked: a
// node is {next_, prev_}) and slists (circular, singly linked: {next_}),
// used by the fault analysis, the DAP variables and the gdb bridge's
// printers (through `dsecore list`). It follows next_ from the header,
// bounded, and says in structured findings what is wrong.

// ListKind is the kind of intrusive container.
type ListKind string

const (
	List  ListKind = "list"
	SList ListKind = "slist"
)

// FindingKind names what a walk found wrong.
type FindingKind string

const (
	// FindEmpty: the header links to itself (not wrong by itself: a list
	// whose size_ says otherwise is).
	FindEmpty FindingKind = "empty"
	// FindInconsistentHeader: one of the header's links points to itself,
	// the other to a node (Node): a range was unlinked while another erase
	// relinked a neighbour.
	FindInconsistentHeader FindingKind = "inconsistent-header"
	// FindNullLink: a NULL next_ after Node (safe-link init of a node still
	// reachable).
	FindNullLink FindingKind = "null-link"
	// FindPoisonedLink: a next_ made of one repeated byte (Link), after
	// Node: the node was freed or returned to a pool and poisoned.
	FindPoisonedLink FindingKind = "poisoned-link"
	// FindUnreadableLink: a next_ (Link) into memory the core does not
	// have, after Node.
	FindUnreadableLink FindingKind = "unreadable-link"
	// FindCycle: the links come back to a node (Node) instead of the header.
	FindCycle FindingKind = "cycle"
	// FindBadPrev: a node's prev_ (Link) is not the node before it (Prev).
	FindBadPrev FindingKind = "bad-prev"
	// FindSizeUnderflow: size_ is negative as a signed count: more erases
	// than elements.
	FindSizeUnderflow FindingKind = "size-underflow"
	// FindSizeMismatch: size_ is not the number of nodes the walk found.
	FindSizeMismatch FindingKind = "size-mismatch"
	// FindLimit: the walk stopped at its bound; the list goes on.
	FindLimit FindingKind = "limit"
)

// Finding is one thing a walk found wrong, with the addresses it concerns.
type Finding struct {
	Kind FindingKind `json:"kind"`
	Node uint64      `json:"node,omitempty"` // the node it is about (a hook address)
	Prev uint64      `json:"prev,omitempty"` // the node before it
	Link uint64      `json:"link,omitempty"` // the link value at fault
	Size int64       `json:"size,omitempty"` // for size findings: size_ as a signed count
	Text string      `json:"text"`           // in words (Said's English)
	Said l10n.Msg    `json:"-"`              // Text in the catalog's words
}

// Walk is a bounded walk of an intrusive list from its header.
type Walk struct {
	Kind     ListKind
	Header   uint64   // the header node's address
	Hooks    []uint64 // the nodes reached, in order (hook addresses)
	Size     int64    // size_ as a signed count, when HasSize
	HasSize  bool
	Back     bool // the links came back to the header
	Findings []Finding
}

// Has says whether the walk found something of this kind.
func (w *Walk) Has(k FindingKind) bool {
	for _, f := range w.Findings {
		if f.Kind == k {
			return true
		}
	}
	return false
}

// Find returns the first finding of a kind.
func (w *Walk) Find(k FindingKind) (Finding, bool) {
	for _, f := range w.Findings {
		if f.Kind == k {
			return f, true
		}
	}
	return Finding{}, false
}

// Stopped says why the walk did not come back to the header ("" when it
// did).
func (w *Walk) Stopped() string {
	if w.Back {
		return ""
	}
	for _, f := range w.Findings {
		switch f.Kind {
		case FindNullLink, FindPoisonedLink, FindUnreadableLink, FindCycle, FindLimit:
			return f.Text
		}
	}
	return "the walk did not come back to the header"
}

// add records a finding said by msg (its Text is msg's English).
func (w *Walk) add(f Finding, msg l10n.Msg) {
	f.Said, f.Text = msg, msg.String()
	w.Findings = append(w.Findings, f)
}

// Memory is what a walk reads (the core; a fuzzer's bytes).
type Memory interface {
	ReadUint64(addr uint64) (uint64, error)
}

// WalkOptions bound a walk.
type WalkOptions struct {
	Kind  ListKind
	Limit int // nodes at most (default 10,000)
	// Size is size_ (signed) when HasSize: checked against the walk.
	Size    int64
	HasSize bool
}

// Poisoned says whether a pointer is made of one repeated byte (at least
// four of them: 0x6b6b6b6b6b6b), the fill of freed or pooled memory.
func Poisoned(v uint64) bool {
	if v < 1<<24 {
		return false
	}
	b := byte(v)
	if b == 0 || b == 0xff {
		return false
	}
	n := 0
	for x := v; x != 0; x >>= 8 {
		if byte(x) != b {
			return false
		}
		n++
	}
	return n >= 4
}

// WalkList follows next_ links from header until they come back to it, at
// most o.Limit nodes, never a node twice, and reports what is wrong.
func WalkList(m Memory, header uint64, o WalkOptions) *Walk {
	if o.Kind == "" {
		o.Kind = List
	}
	if o.Limit <= 0 {
		o.Limit = 10000
	}
	w := &Walk{Kind: o.Kind, Header: header, Size: o.Size, HasSize: o.HasSize}
	next, err := m.ReadUint64(header)
	if err != nil {
		w.add(Finding{Kind: FindUnreadableLink, Node: header}, l10n.T("walk.unreadable-header", "Addr", hex(header), "Err", err.Error()))
		return w
	}
	if o.Kind == List {
		if prev, err := m.ReadUint64(header + 8); err == nil {
			switch {
			case next == header && prev == header:
				w.add(Finding{Kind: FindEmpty}, l10n.T("walk.empty-unlinked"))
			case (next == header) != (prev == header):
				other := next
				if next == header {
					other = prev
				}
				w.add(Finding{Kind: FindInconsistentHeader, Node: other}, l10n.T("walk.inconsistent-header", "Next", hex(next), "Prev", hex(prev), "Node", hex(other)))
			}
		}
	} else if next == header {
		w.add(Finding{Kind: FindEmpty}, l10n.T("walk.empty"))
	}
	seen := map[uint64]bool{header: true}
	prev := header
	for cur := next; ; {
		if cur == header {
			w.Back = true
			break
		}
		if len(w.Hooks) >= o.Limit {
			w.add(Finding{Kind: FindLimit, Node: prev}, l10n.T("walk.limit", "N", o.Limit))
			break
		}
		if cur == 0 {
			w.add(Finding{Kind: FindNullLink, Node: prev}, l10n.T("walk.null-link", "Node", hex(prev)))
			break
		}
		if Poisoned(cur) {
			w.add(Finding{Kind: FindPoisonedLink, Node: prev, Link: cur}, l10n.T("walk.poisoned-link", "Link", hex(cur), "Node", hex(prev), "Byte", hex(uint64(byte(cur)))))
			break
		}
		if seen[cur] {
			w.add(Finding{Kind: FindCycle, Node: cur, Prev: prev}, l10n.T("walk.cycle", "Node", hex(cur)))
			break
		}
		nn, err := m.ReadUint64(cur)
		if err != nil {
			w.add(Finding{Kind: FindUnreadableLink, Node: prev, Link: cur}, l10n.T("walk.unreadable-link", "Link", hex(cur), "Node", hex(prev)))
			break
		}
		seen[cur] = true
		w.Hooks = append(w.Hooks, cur)
		if o.Kind == List {
			if np, err := m.ReadUint64(cur + 8); err == nil && np != prev {
				w.add(Finding{Kind: FindBadPrev, Node: cur, Prev: prev, Link: np}, l10n.T("walk.bad-prev", "Node", hex(cur), "Link", hex(np), "Prev", hex(prev)))
			}
		}
		prev, cur = cur, nn
	}
	if o.HasSize {
		switch {
		case o.Size < 0:
			w.add(Finding{Kind: FindSizeUnderflow, Size: o.Size}, l10n.T("walk.size-underflow", "Size", o.Size))
		case w.Back && o.Size != int64(len(w.Hooks)):
			w.add(Finding{Kind: FindSizeMismatch, Size: o.Size}, l10n.T("walk.size-mismatch", "Size", o.Size, "N", len(w.Hooks)))
		}
	}
	return w
}

// IntrusiveList is a boost::intrusive list or slist value, as its DWARF
// type describes it.
type IntrusiveList struct {
	Kind     ListKind
	Header   uint64 // address of the header node
	Size     int64  // size_ (signed), when HasSize
	HasSize  bool
	SizeAt   uint64       // address of size_
	Element  dwarf.Offset // the element type (in the list's module)
	ElemName string
	HookOff  int64  // offset of the hook in the element
	HookHow  string // how the hook was found: "DWARF: dm_obj_t::hook, the member hook named in the list's template arguments"
}

// listTraitsRE reads the member hook a list names in its (DWARF) type
// name's template arguments: member_hook<T, Hook, &T::member> or, in
// list_impl, mhtraits<T, Hook, &T::member>.
var listTraitsRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?:mhtraits|member_hook)<([^,<>]+(?:<[^<>]*>)?), .*&([\w:]+)::(\w+)>`)
})

// IsIntrusiveList says whether a type name is a boost::intrusive list or
// slist (the class or its _impl).
func IsIntrusiveList(name string) (ListKind, bool) {
	switch {
	case isPrefix(name, "boost::intrusive::list<", "boost::intrusive::list_impl<"):
		return List, true
	case isPrefix(name, "boost::intrusive::slist<", "boost::intrusive::slist_impl<"):
		return SList, true
	}
	return "", false
}

// AsIntrusiveList reads a value as a boost::intrusive list or slist: its
// header, size_, element type and hook offset from DWARF.
func (r *Reader) AsIntrusiveList(v *Value) (*IntrusiveList, bool) {
	ty := r.Resolved(v)
	if ty == nil || ty.Kind != symbols.KindStruct || !v.InMemory() {
		return nil, false
	}
	name := r.structName(v, ty)
	kind, ok := IsIntrusiveList(name)
	if !ok {
		return nil, false
	}
	l := &IntrusiveList{Kind: kind}
	var hdr *Value
	var err error
	if kind == List {
		hdr, err = r.path(v, "data_", "root_plus_size_", "m_header")
	} else if hdr, err = r.path(v, "data_", "root_plus_size_", "header_holder_"); err != nil {
		hdr, err = r.path(v, "data_", "root_plus_size_", "m_header")
	}
	if err != nil {
		return nil, false
	}
	l.Header = hdr.Addr
	if sz, err := r.path(v, "data_", "root_plus_size_", "size_"); err == nil {
		if u, err := r.Uint(sz); err == nil {
			l.Size, l.HasSize, l.SizeAt = int64(u), true, sz.Addr
			if n := r.Size(sz); n > 0 && n < 8 && u&(1<<uint(8*n-1)) != 0 {
				l.Size = int64(u) - int64(1)<<uint(8*n)
			}
		}
	}
	search := name
	for _, b := range ty.Bases {
		search += " " + v.Mod.Syms.TypeName(b.Type)
	}
	m := listTraitsRE().FindStringSubmatch(search)
	if m == nil {
		return nil, false
	}
	et, ok := v.Mod.Syms.LookupType(m[1])
	if !ok {
		return nil, false
	}
	off, _, err := v.Mod.Syms.FieldOffset(et, []string{m[3]})
	if err != nil {
		return nil, false
	}
	l.Element, l.ElemName, l.HookOff = et.Offset, strings.TrimSpace(m[1]), off
	l.HookHow = fmt.Sprintf("DWARF: %s::%s, the member hook named in the list's template arguments", l.ElemName, m[3])
	return l, true
}

// Walk walks the list, bounded by the reader's MaxList (or limit, when
// positive).
func (r *Reader) Walk(l *IntrusiveList, limit int) *Walk {
	if limit <= 0 {
		limit = r.MaxList
	}
	return WalkList(r.P.Core, l.Header, WalkOptions{Kind: l.Kind, Limit: limit, Size: l.Size, HasSize: l.HasSize})
}

// ElementAt is the element whose hook is at hook.
func (r *Reader) ElementAt(v *Value, l *IntrusiveList, hook uint64, name string) *Value {
	return &Value{Name: name, Mod: v.Mod, Type: l.Element, Addr: hook - uint64(l.HookOff), Kind: KindReference,
		Where: fmt.Sprintf("hook %#x − %#x", hook, l.HookOff)}
}

func hex(v uint64) string { return fmt.Sprintf("%#x", v) }
