package symbols

import (
	"strconv"
	"strings"
	"sync"

	"github.com/ianlancetaylor/demangle"
)

// Demangle returns the demangled form of a C++ name with parameters, or
// the name itself.
func Demangle(name string) string {
	if !strings.HasPrefix(name, "_Z") {
		return name
	}
	if i := strings.IndexByte(name, '@'); i > 0 {
		// "_Z…@plt", "_Z…@@GLIBCXX_3.4": demangle the name, keep the suffix.
		return Demangle(name[:i]) + name[i:]
	}
	if d, ok := demangled.Load(name); ok {
		return d.(string)
	}
	d, err := demangle.ToString(name)
	if err != nil {
		d = name
	}
	demangled.Store(name, d)
	return d
}

// demangled caches Demangle: the same names come back for every frame of
// every stack.
var demangled sync.Map

// demangleNoParams is the name as gdb names a frame: no parameter list.
func demangleNoParams(name string) string {
	if !strings.HasPrefix(name, "_Z") {
		return name
	}
	if d, err := demangle.ToString(name, demangle.NoParams); err == nil {
		return d
	}
	return name
}

// demangleNoParamsWithReturn is demangleNoParams with the return type a
// function template's mangled name holds in front, as gdb prints it.
func demangleNoParamsWithReturn(name string) string {
	if !strings.HasPrefix(name, "_Z") || strings.IndexByte(name, '@') >= 0 {
		return demangleNoParams(name)
	}
	s := demangleNoParams(name)
	ast, err := demangle.ToAST(name)
	if err != nil {
		return s
	}
	if ty, ok := ast.(*demangle.Typed); ok {
		if ft, ok := ty.Type.(*demangle.FunctionType); ok && ft.Return != nil {
			s = demangle.ASTToString(ft.Return) + " " + s
		}
	}
	return s
}

// mangledParts are the identifiers of a demangled C++ name that its
// mangled form must hold as <length><identifier> (Itanium ABI
// <source-name>: every name component, template argument and parameter
// type named by the program appears so at least once, substitutions only
// repeat it). Left out: what the demangler prints that is not a
// <source-name> — builtin types and qualifiers, operator names, the
// standard abbreviations (St, Sa, Sb, Ss, Si, So, Sd), special names
// ("vtable for", "guard variable for", thunks), lambdas and unnamed types,
// "(anonymous namespace)", ABI tag and clone-suffix words, numbers, and
// anything after '@' (symbol versions, "@plt").
func mangledParts(name string) []string {
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	if i := strings.Index(name, " [clone"); i >= 0 {
		name = name[:i]
	}
	var out []string
	seen := map[string]bool{}
	identStart := func(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	ident := func(c byte) bool { return identStart(c) || c >= '0' && c <= '9' }
	for i := 0; i < len(name); {
		c := name[i]
		if !ident(c) {
			i++
			continue
		}
		j := i
		for j < len(name) && ident(name[j]) {
			j++
		}
		tok := name[i:j]
		// A number, a word of "{lambda(…)#1}" / "{unnamed type#1}" /
		// "{default arg#1}", or a literal's suffix: not a source name.
		inBraces := strings.LastIndexByte(name[:i], '{') > strings.LastIndexByte(name[:i], '}')
		if identStart(c) && !inBraces && !notSourceName[tok] && !seen[tok] && (i == 0 || name[i-1] != '.') {
			seen[tok] = true
			out = append(out, strconv.Itoa(len(tok))+tok)
		}
		i = j
	}
	return out
}

var notSourceName = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`void bool char wchar_t char8_t char16_t char32_t short int long signed unsigned
		float double __int128 __float128 _Float16 _Float32 _Float64 _Float128 _Float32x _Float64x _Float128x
		decimal32 decimal64 decimal128 _Complex _Imaginary complex imaginary const volatile restrict __restrict
		auto decltype nullptr nullptr_t sizeof alignof typeid noexcept throw true false
		operator new delete
		std allocator basic_string string char_traits istream ostream iostream basic_istream basic_ostream basic_iostream
		vtable VTT typeinfo name for construction in guard variable virtual non thunk to covariant return
		transaction clone reference temporary TLS init wrapper function hidden alias java Class
		template parameter object literal
		anonymous namespace lambda unnamed type default arg abi
		_BitInt __bf16 bfloat16_t this typename requires __alignof__ _Atomic transaction_safe _Accum _Fract _Sat`) {
		m[w] = true
	}
	return m
}()

// mayMangle reports whether a mangled name holds every part.
func mayMangle(mangled string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(mangled, p) {
			return false
		}
	}
	return true
}
