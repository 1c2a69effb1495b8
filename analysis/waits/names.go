package waits

import (
	"fmt"
	"strings"

	"github.com/dsecore/dsecore/analysis/holders"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/coreparse/values"
	"github.com/dsecore/dsecore/internal/l10n"
)

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
			t = l10n.T("waits.chan-peer", "What", what, "Who", a.whoMsg(o.Owner), "Frame", o.HoldFrame, "Function", o.HoldFunction, "Expr", ExprSaid(o.HoldExpr))
			if len(o.Notifiers) > 1 {
				t = l10n.T("waits.chan-peers", "What", what, "Whos", a.whoListMsg(o.Notifiers))
			}
		} else {
			t = l10n.T("waits.chan-nobody", "What", what)
		}
	case o.Kind == CondVar || o.Kind == CoCondVar:
		if len(o.Notifiers) > 0 {
			t = l10n.T("waits.cond-notifier", "What", what, "Who", a.whoMsg(o.Owner), "Frame", o.HoldFrame, "Function", o.HoldFunction, "Expr", ExprSaid(o.HoldExpr))
			if len(o.Notifiers) > 1 {
				t = l10n.T("waits.cond-notifiers", "What", what, "Whos", a.whoListMsg(o.Notifiers))
			}
		} else {
			t = l10n.T("waits.cond-nobody", "What", what)
		}
	case o.Owner != "" && o.Leaked:
		t = l10n.T("waits.obj-leaked", "Kind", kind, "What", what, "Who", a.whoMsg(o.Owner), "How", HowSaid(o.OwnerHow))
	case o.Owner != "" && o.Inferred:
		t = l10n.T("waits.obj-inferred", "Kind", kind, "What", what, "Who", a.whoMsg(o.Owner), "Frame", frameMsg(o.HoldFrame, o.HoldFunction), "Expr", ExprSaid(o.HoldExpr))
	case o.Owner != "":
		if o.HoldFrame >= 0 {
			t = l10n.T("waits.obj-held-in", "Kind", kind, "What", what, "Who", a.whoMsg(o.Owner), "How", HowSaid(o.OwnerHow), "Frame", frameMsg(o.HoldFrame, o.HoldFunction), "Expr", ExprSaid(o.HoldExpr))
		} else {
			t = l10n.T("waits.obj-held", "Kind", kind, "What", what, "Who", a.whoMsg(o.Owner), "How", HowSaid(o.OwnerHow))
		}
	case o.Locked:
		t = l10n.T("waits.obj-locked", "Kind", kind, "What", what)
		if o.Kind == RWLock {
			t = l10n.T("waits.rwlock-mode", "What", what, "Mode", o.ModeSaid)
		}
	default:
		t = l10n.T("waits.obj", "Kind", kind, "What", what)
	}
	if o.Mode != "" && (o.Kind == Mutex || o.Kind == CoRWMutex) {
		t = l10n.T("waits.obj-mode", "Text", t, "Mode", o.ModeSaid)
	}
	if o.OwnerDied {
		t = l10n.T("waits.obj-owner-died", "Text", t)
	}
	if o.Owner != "" && a.node(o.Owner) == nil && o.OwnerLWP > 0 {
		t = l10n.T("waits.obj-owner-exited", "Text", t, "LWP", o.OwnerLWP)
	}
	o.Said, o.Text = t, t.String()
}

// HowSaid is how an object's owner is known (Object.OwnerHow) in the
// catalog's words: a field of the lock word as it is named, the ways
// dsecore infers it in words.
func HowSaid(how string) l10n.Msg {
	if base, guard, ok := strings.Cut(how, "; its frame has a "); ok {
		// guardByType's addition: the guard whose value is optimized out.
		typ, name := guard, ""
		if i := strings.LastIndexByte(guard, ' '); i >= 0 {
			typ, name = guard[:i], guard[i+1:]
		}
		return l10n.T("waits.how-frame-has", "How", HowSaid(base), "Type", typ, "Name", name)
	}
	switch how {
	case "lock guard":
		return l10n.T("waits.how-lock-guard")
	case "lock guard (optimized out)":
		return l10n.T("waits.how-lock-guard-optimized")
	case "join":
		return l10n.T("waits.how-join")
	case "notifier":
		return l10n.T("waits.how-notifier")
	case "peer":
		return l10n.T("waits.how-peer")
	}
	return l10n.Verbatim(how) // __owner, __cur_writer, locked_by
}

// ExprSaid is a path the analysis wrote (a guard's, a reach's) in the
// catalog's words: a variable whose value DWARF no longer has is marked
// so ("g (optimized out)").
func ExprSaid(expr string) l10n.Msg {
	if name, ok := strings.CutSuffix(expr, " (optimized out)"); ok {
		return l10n.T("waits.expr-optimized-out", "Expr", name)
	}
	return l10n.Verbatim(expr)
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
