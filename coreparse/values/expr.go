package values

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/coreparse/unwind"
)

// Scope is what an expression's names resolve against: a frame's
// variables and registers, then globals of every module.
type Scope struct {
	Frame *Frame
	Vars  []*Value
}

// Eval evaluates a C-like expression: numbers, $registers, variables,
// globals, members (. ->), indexing, unary * & - ! ~, casts to program
// types ((dm_obj_t *) x), sizeof(type or expression), and + - * / % << >>
// & | ^ == != < > <= >= && ||. Integers are 64-bit; pointer arithmetic
// scales by the pointee's size.
//
// An expression longer than MaxExprLen bytes, or nested deeper than
// MaxExprDepth levels (parentheses, unary operators, casts, indexes), is
// an error before anything is evaluated: the parser recurses once per
// level, and a client's evaluate request must never take the process's
// stack (a million nested parentheses would).
func (r *Reader) Eval(s *Scope, expr string) (v *Value, err error) {
	maxLen, maxDepth := r.MaxExprLen, r.MaxExprDepth
	if maxLen <= 0 {
		maxLen = DefaultMaxExprLen
	}
	if maxDepth <= 0 {
		maxDepth = DefaultMaxExprDepth
	}
	if len(expr) > maxLen {
		return nil, fmt.Errorf("the expression is %d bytes long: the limit is %d", len(expr), maxLen)
	}
	defer func() {
		if x := recover(); x != nil {
			e, ok := x.(evalError)
			if !ok {
				panic(x) // a bug (or a file that changed under the reader): not the expression's fault
			}
			v, err = nil, e
		}
	}()
	p := &parser{r: r, s: s, toks: lex(expr), maxDepth: maxDepth}
	v = p.expr(0)
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos])
	}
	v.Name = expr
	return v, nil
}

// The bounds of an expression (Reader.MaxExprLen and MaxExprDepth when
// they are 0). C requires compilers to take at least 63 nested
// parenthesized expressions; a hand-typed or hovered expression has a few.
const (
	DefaultMaxExprLen   = 8 << 10
	DefaultMaxExprDepth = 256
)

type parser struct {
	r    *Reader
	s    *Scope
	toks []string
	pos  int

	depth, maxDepth int // levels of recursion entered, and the bound
}

// enter counts a level of nesting, failing past the bound; leave is
// deferred by its caller (a failure unwinds the whole parse). Every
// recursion passes through unary, which counts: a parenthesis, an index,
// sizeof's operand, a cast or a unary operator is one level (and binary
// operators recurse at most once per precedence level inside one).
func (p *parser) enter() {
	if p.depth++; p.depth > p.maxDepth {
		fail("the expression is nested deeper than %d levels", p.maxDepth)
	}
}

func (p *parser) leave() { p.depth-- }

// evalError is what an expression that cannot be evaluated panics with
// (fail), deep in the parser; Eval recovers it, and only it, as its error.
type evalError struct{ msg string }

func (e evalError) Error() string { return e.msg }

func fail(format string, args ...any) { panic(evalError{fmt.Sprintf(format, args...)}) }

func lex(s string) []string {
	var out []string
	ops := []string{"->", "<<", ">>", "==", "!=", "<=", ">=", "&&", "||", "::"}
	for i := 0; i < len(s); {
		c := rune(s[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case unicode.IsDigit(c):
			j := i
			hex := strings.HasPrefix(strings.ToLower(s[i:]), "0x")
			for j < len(s) && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])) || s[j] == '.' ||
				!hex && (s[j] == '+' || s[j] == '-') && (s[j-1] == 'e' || s[j-1] == 'E')) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		case unicode.IsLetter(c) || c == '_' || c == '$':
			j := i + 1
			for j < len(s) {
				if unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])) || s[j] == '_' {
					j++
				} else if strings.HasPrefix(s[j:], "::") {
					j += 2
				} else {
					break
				}
			}
			out = append(out, s[i:j])
			i = j
		default:
			tok := string(c)
			for _, o := range ops {
				if strings.HasPrefix(s[i:], o) {
					tok = o
					break
				}
			}
			out = append(out, tok)
			i += len(tok)
		}
	}
	return out
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *parser) next() string {
	t := p.peek()
	p.pos++
	return t
}

func (p *parser) want(t string) {
	if got := p.next(); got != t {
		fail("expected %q, got %q", t, got)
	}
}

var precedence = map[string]int{
	"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6,
	"<": 7, ">": 7, "<=": 7, ">=": 7, "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10,
}

func (p *parser) expr(minPrec int) *Value {
	lhs := p.unary()
	for {
		op := p.peek()
		prec, ok := precedence[op]
		if !ok || prec <= minPrec {
			return lhs
		}
		p.next()
		rhs := p.expr(prec)
		lhs = p.binary(op, lhs, rhs)
	}
}

// typeAt parses a type name at the current position when there is one:
// an identifier naming a program type, then '*'s.
func (p *parser) typeAt() (*symbols.Table, dwarf.Offset, int, bool) {
	save := p.pos
	name := p.next()
	for _, q := range []string{"struct", "class", "const", "unsigned", "signed"} {
		if name == q {
			if q == "unsigned" || q == "signed" {
				if n := p.peek(); n == "int" || n == "long" || n == "char" || n == "short" {
					name = q + " " + p.next()
				}
			} else {
				name = p.next()
			}
		}
	}
	if strings.HasPrefix(name, "$") || name == "" || !(unicode.IsLetter(rune(name[0])) || name[0] == '_') {
		p.pos = save
		return nil, 0, 0, false
	}
	// Template arguments and what follows them ("list<T>::node").
	for p.peek() == "<" {
		args, ok := p.templateArgs()
		if !ok {
			p.pos = save
			return nil, 0, 0, false
		}
		name += args
		if p.peek() == "::" {
			p.next()
			name += "::" + p.next()
		}
	}
	t, off := p.r.lookupType(name)
	if t == nil {
		p.pos = save
		return nil, 0, 0, false
	}
	stars := 0
	for p.peek() == "*" {
		p.next()
		stars++
	}
	return t, off, stars, true
}

// templateArgs reads "<…>" with nested brackets and returns it spelled with
// spaces only between identifiers.
func (p *parser) templateArgs() (string, bool) {
	var b strings.Builder
	depth := 0
	for {
		t := p.next()
		switch t {
		case "":
			return "", false
		case "<":
			depth++
		case ">":
			depth--
		case ">>":
			depth -= 2
		}
		if b.Len() > 0 && isIdentByte(b.String()[b.Len()-1]) && t != "" && isIdentByte(t[0]) {
			b.WriteByte(' ')
		}
		b.WriteString(t)
		if depth <= 0 {
			return b.String(), depth == 0
		}
	}
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (p *parser) unary() *Value {
	p.enter()
	defer p.leave()
	switch t := p.peek(); t {
	case "-", "!", "~":
		p.next()
		v := p.unary()
		if t == "-" && p.r.isFloat(v) {
			return p.r.floatValue(-p.r.mustFloat(v), p.r.floatSize(v))
		}
		if t == "!" && p.r.isFloat(v) {
			return p.r.boolValue(p.r.mustFloat(v) == 0)
		}
		x := p.r.mustInt(v)
		switch t {
		case "-":
			return p.r.intValue(-x)
		case "!":
			return p.r.boolValue(x == 0)
		}
		return p.r.intValue(^x)
	case "*":
		p.next()
		v := p.unary()
		if sp, ok := p.r.smartPointer(v); ok { // operator* of unique_ptr, shared_ptr (gdb's xmethods)
			v = sp
		}
		d, err := p.r.Deref(v)
		if err != nil {
			fail("%v", err)
		}
		return d
	case "&":
		p.next()
		v := p.unary()
		if !v.InMemory() {
			fail("cannot take the address of a value not in memory")
		}
		return p.r.pointerTo(v)
	case "sizeof":
		p.next()
		p.want("(")
		if tbl, off, stars, ok := p.typeAt(); ok {
			p.want(")")
			if stars > 0 {
				return p.r.intValue(8)
			}
			return p.r.intValue(tbl.SizeOf(off))
		}
		v := p.expr(0)
		p.want(")")
		return p.r.intValue(p.r.Size(v))
	case "(":
		save := p.pos
		p.next()
		if tbl, off, stars, ok := p.typeAt(); ok && p.peek() == ")" {
			p.next()
			v := p.unary()
			return p.r.cast(v, tbl, off, stars)
		}
		p.pos = save
	}
	return p.postfix(p.primary())
}

func (p *parser) postfix(v *Value) *Value {
	for {
		switch p.peek() {
		case ".", "->":
			p.next()
			name := p.next()
			m, err := p.r.Member(v, name)
			if err != nil {
				fail("%v", err)
			}
			v = m
		case "[":
			p.next()
			i := p.r.mustInt(p.expr(0))
			p.want("]")
			e, err := p.r.Index(v, i)
			if err != nil {
				fail("%v", err)
			}
			v = e
		default:
			return v
		}
	}
}

func (p *parser) primary() *Value {
	t := p.next()
	switch {
	case t == "":
		fail("unexpected end of expression")
	case t == "(":
		v := p.expr(0)
		p.want(")")
		return v
	case unicode.IsDigit(rune(t[0])) && (strings.ContainsAny(t, ".eE") && !strings.HasPrefix(strings.ToLower(t), "0x")):
		f, err := strconv.ParseFloat(strings.TrimRight(strings.ToLower(t), "fl"), 64)
		if err != nil {
			fail("bad number %q", t)
		}
		size := int64(8) // a double, a float with f, a long double with l
		switch t[len(t)-1] {
		case 'f', 'F':
			size = 4
		case 'l', 'L':
			size = 16
		}
		return p.r.floatValue(f, size)
	case unicode.IsDigit(rune(t[0])):
		n, err := strconv.ParseUint(strings.TrimRight(strings.ToLower(t), "ul"), 0, 64)
		if err != nil {
			fail("bad number %q", t)
		}
		return p.r.intValue(int64(n))
	case strings.HasPrefix(t, "$"):
		name := strings.TrimPrefix(t, "$")
		switch name {
		case "pc":
			name = "rip"
		case "sp":
			name = "rsp"
		case "fp":
			name = "rbp"
		}
		n := unwind.RegNumber(name)
		if n < 0 || p.s == nil || p.s.Frame == nil {
			fail("no register $%s", name)
		}
		x, ok := p.s.Frame.Regs.Get(n)
		if !ok {
			fail("$%s: <not saved>", name)
		}
		return p.r.intValue(int64(x))
	case t == "true" || t == "false":
		return p.r.boolValue(t == "true")
	}
	// A variable of the scope, then a global.
	if p.s != nil {
		for _, v := range p.s.Vars {
			if v.Name == t {
				c := *v
				return &c
			}
		}
	}
	if v, ok := p.r.global(t); ok {
		return v
	}
	fail("no symbol %q in the current context", t)
	return nil
}

// ---- values the evaluator makes ----

// intValue is a computed long.
func (r *Reader) intValue(x int64) *Value {
	m, off := r.baseType("long int", "long")
	return &Value{Mod: m, Type: off, Bytes: binary.LittleEndian.AppendUint64(nil, uint64(x)), Where: "computed"}
}

// baseType finds a named base type in any module with DWARF.
func (r *Reader) baseType(names ...string) (*modRef, dwarf.Offset) {
	for _, n := range names {
		if t, off := r.lookupType(n); t != nil {
			for _, m := range r.P.Modules {
				if m.Syms == t {
					return m, off
				}
			}
		}
	}
	return nil, 0
}

// lookupType finds a type by name in the modules' DWARF: structs, classes,
// typedefs, enums, and base types.
func (r *Reader) lookupType(name string) (*symbols.Table, dwarf.Offset) {
	if n, ok := baseAliases[name]; ok {
		name = n
	}
	for _, m := range r.P.Modules {
		if m.Syms == nil || !m.Syms.HasDWARF() {
			continue
		}
		if ty, ok := m.Syms.LookupType(name); ok {
			return m.Syms, ty.Offset
		}
		if off, ok := m.Syms.LookupBaseType(name); ok {
			return m.Syms, off
		}
	}
	return nil, 0
}

func (r *Reader) mustInt(v *Value) int64 {
	if v.Absent() {
		fail("%s", v.AbsentText())
	}
	if v.Mod == nil {
		if len(v.Bytes) >= 8 {
			return int64(binary.LittleEndian.Uint64(v.Bytes))
		}
		fail("value has no type")
	}
	x, err := r.Int(v)
	if err != nil {
		fail("%v", err)
	}
	return x
}

// pointerTo is &v.
func (r *Reader) pointerTo(v *Value) *Value {
	m := v.Mod
	off, err := m.Syms.PointerType(v.Type)
	if err != nil {
		fail("&: %v", err)
	}
	return &Value{Mod: m, Type: off, Bytes: binary.LittleEndian.AppendUint64(nil, v.Addr), Where: "computed"}
}

// cast converts v to the type off (with stars extra pointer levels) of
// table tbl: a reinterpretation of an integer or pointer as a pointer,
// or of memory as the type.
func (r *Reader) cast(v *Value, tbl *symbols.Table, off dwarf.Offset, stars int) *Value {
	var mod *modRef
	for _, m := range r.P.Modules {
		if m.Syms == tbl {
			mod = m
		}
	}
	target := off
	for i := 0; i < stars; i++ {
		p, err := tbl.PointerType(target)
		if err != nil {
			fail("no pointer type to %s: %v", tbl.TypeName(target), err)
		}
		target = p
	}
	if stars > 0 {
		x := r.mustInt(v)
		return &Value{Mod: mod, Type: target, Bytes: binary.LittleEndian.AppendUint64(nil, uint64(x)), Where: "computed"}
	}
	ty := resolve(tbl, target)
	if ty != nil && (ty.Kind == symbols.KindBase || ty.Kind == symbols.KindEnum) {
		x := r.mustInt(v)
		return &Value{Mod: mod, Type: target, Bytes: binary.LittleEndian.AppendUint64(nil, uint64(x)), Where: "computed"}
	}
	c := *v
	c.Mod, c.Type = mod, target
	return &c
}

func (p *parser) binary(op string, a, b *Value) *Value {
	r := p.r
	at, bt := r.Resolved(a), r.Resolved(b)
	isPtr := func(t *symbols.Type) bool {
		return t != nil && t.Kind == symbols.KindPointer && t.Tag == dwarf.TagPointerType
	}
	if (op == "+" || op == "-") && isPtr(at) && !isPtr(bt) {
		n := r.mustInt(b)
		sz := a.Mod.Syms.SizeOf(at.Elem)
		if sz <= 0 {
			sz = 1
		}
		if op == "-" {
			n = -n
		}
		x := r.mustInt(a) + n*sz
		return &Value{Mod: a.Mod, Type: a.Type, Bytes: binary.LittleEndian.AppendUint64(nil, uint64(x)), Where: "computed"}
	}
	if r.isFloat(a) || r.isFloat(b) {
		return p.floatBinary(op, r.mustFloat(a), r.mustFloat(b), r.floatSize(a, b))
	}
	x, y := r.mustInt(a), r.mustInt(b)
	if op == "-" && isPtr(at) && isPtr(bt) {
		sz := a.Mod.Syms.SizeOf(at.Elem)
		if sz <= 0 {
			sz = 1
		}
		return r.intValue((x - y) / sz)
	}
	switch op {
	case "+":
		return r.intValue(x + y)
	case "-":
		return r.intValue(x - y)
	case "*":
		return r.intValue(x * y)
	case "/", "%":
		if y == 0 {
			fail("division by zero")
		}
		if op == "/" {
			return r.intValue(x / y)
		}
		return r.intValue(x % y)
	case "<<":
		return r.intValue(x << uint(y))
	case ">>":
		return r.intValue(x >> uint(y))
	case "&":
		return r.intValue(x & y)
	case "|":
		return r.intValue(x | y)
	case "^":
		return r.intValue(x ^ y)
	}
	if b, ok := compare(op, x, y); ok {
		return r.boolValue(b)
	}
	fail("operator %s", op)
	return nil
}

// global finds a global variable by (qualified) name in any module.
func (r *Reader) global(name string) (*Value, bool) {
	for _, m := range r.P.Modules {
		if m.Syms == nil || !m.Syms.HasDWARF() {
			continue
		}
		if g, ok := m.Syms.LookupGlobal(name); ok {
			return &Value{Name: name, Mod: m, Type: g.Type, Addr: g.Addr + m.Bias, Kind: KindReference, Where: "global"}, true
		}
	}
	return nil, false
}

type modRef = coreparse.Module

// baseAliases are C spellings of GCC's DWARF base type names.
var baseAliases = map[string]string{
	"long": "long int", "unsigned long": "long unsigned int", "unsigned": "unsigned int", "unsigned int": "unsigned int",
	"short": "short int", "unsigned short": "short unsigned int", "signed char": "signed char", "unsigned char": "unsigned char",
	"long long": "long long int", "unsigned long long": "long long unsigned int", "signed long": "long int", "signed int": "int",
}
