package waits

import (
	"fmt"
	"strings"

	"github.com/dsecore/dsecore/analysis/holders"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/coreparse/values"
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
	what := o.Expr
	if o.Type != "" {
		what += " (" + o.Type + ")"
	}
	if o.frame != "" {
		what += " in " + o.frame
	}
	switch {
	case o.How == "unknown":
		o.Text = fmt.Sprintf("a %s %s", o.Kind, o.Expr)
	case o.Kind == CoChan:
		if len(o.Notifiers) > 0 {
			o.Text = fmt.Sprintf("channel %s: a channel has no owner; the only other frames that reach it are %s's (frame #%d %s, through %s): its peer",
				what, a.who(o.Owner), o.HoldFrame, o.HoldFunction, o.HoldExpr)
			if len(o.Notifiers) > 1 {
				o.Text = fmt.Sprintf("channel %s: a channel has no owner; its possible peers (other frames that reach it): %s", what, a.whoList(o.Notifiers))
			}
		} else {
			o.Text = fmt.Sprintf("channel %s: no other thread's or task's frames reach it: nobody is left to serve it", what)
		}
	case o.Kind == CondVar || o.Kind == CoCondVar:
		if len(o.Notifiers) > 0 {
			o.Text = fmt.Sprintf("condition %s: a condition has no owner; the only other frames that reach it are %s's (frame #%d %s, through %s): its possible notifier",
				what, a.who(o.Owner), o.HoldFrame, o.HoldFunction, o.HoldExpr)
			if len(o.Notifiers) > 1 {
				o.Text = fmt.Sprintf("condition %s: a condition has no owner; its possible notifiers (other frames that reach it): %s", what, a.whoList(o.Notifiers))
			}
		} else {
			o.Text = fmt.Sprintf("condition %s: no other thread's or task's frames reach it", what)
		}
	case o.Owner != "" && o.Leaked:
		o.Text = fmt.Sprintf("%s %s held by %s (%s), no frame of it holds the lock: a leaked lock, or taken by code that has returned", o.Kind, what, a.who(o.Owner), o.OwnerHow)
	case o.Owner != "" && o.Inferred:
		o.Text = fmt.Sprintf("%s %s held by %s, inferred: %s holds a guard on it (%s; the lock records no owner)", o.Kind, what, a.who(o.Owner), frameText(o.HoldFrame, o.HoldFunction), o.HoldExpr)
	case o.Owner != "":
		held := ""
		if o.HoldFrame >= 0 {
			held = fmt.Sprintf(", in %s (%s)", frameText(o.HoldFrame, o.HoldFunction), o.HoldExpr)
		}
		o.Text = fmt.Sprintf("%s %s held by %s (%s)%s", o.Kind, what, a.who(o.Owner), o.OwnerHow, held)
	case o.Locked:
		o.Text = fmt.Sprintf("%s %s is locked; its owner is not recorded and no frame holds a guard on it: a leaked lock, or taken by code that has returned", o.Kind, what)
		if o.Kind == RWLock {
			o.Text = fmt.Sprintf("rwlock %s is %s", what, o.Mode)
		}
	default:
		o.Text = fmt.Sprintf("%s %s", o.Kind, what)
	}
	if o.Mode != "" && (o.Kind == Mutex || o.Kind == CoRWMutex) {
		o.Text += " [" + o.Mode + "]"
	}
	if o.OwnerDied {
		o.Text += "; its owner died holding it (FUTEX_OWNER_DIED)"
	}
	if o.Owner != "" && a.node(o.Owner) == nil && o.OwnerLWP > 0 {
		o.Text += fmt.Sprintf("; LWP %d is no thread of the process: it exited holding the lock", o.OwnerLWP)
	}
}

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
