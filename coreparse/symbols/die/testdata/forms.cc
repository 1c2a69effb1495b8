// A small program whose DWARF uses many forms: namespaces, classes with
// bases and bit fields, templates, lambdas, inline functions (inlined at
// -O2: inline instances and location lists), a 128-bit constant (data16),
// thread-locals, enums and a variadic function. Compiled by the die tests
// with g++ and clang++ at several DWARF versions (and with -flto, whose
// cross-unit references are DW_FORM_ref_addr); never run.
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace outer {
namespace {
struct Hidden { int a; };
}
enum class Color : uint8_t { red = 1, green = 2, blue = 200 };

struct Base {
	virtual ~Base() {}
	virtual long value() const { return 1; }
	int b = 3;
};

struct Bits : Base {
	unsigned lo : 3;
	unsigned hi : 5;
	long value() const override { return lo + hi; }
};

template <typename T, int N>
struct Ring {
	T items[N];
	int head = 0;
	void push(const T &v) { items[head++ % N] = v; }
	T sum() const {
		T s{};
		for (int i = 0; i < N; i++) s += items[i];
		return s;
	}
};

static inline int twice(int x) { return 2 * x; }
__attribute__((always_inline)) inline int deep(int x) { return twice(x) + twice(x + 1); }

int sumv(int n, ...) {
	va_list ap;
	va_start(ap, n);
	int s = 0;
	for (int i = 0; i < n; i++) s += va_arg(ap, int);
	va_end(ap);
	return s;
}
}  // namespace outer

thread_local int tls_counter = 7;
static const __int128 big = (static_cast<__int128>(1) << 100) + 5;
constexpr long double ld = 1.25L;
outer::Hidden hidden{4};

__attribute__((noinline)) long work(std::vector<int> &v, const std::string &s) {
	outer::Ring<long, 4> r;
	for (int x : v) r.push(outer::deep(x));
	auto f = [&](int k) { return r.sum() + k + static_cast<long>(s.size()); };
	outer::Bits bits;
	bits.lo = 5;
	bits.hi = 9;
	return f(outer::sumv(3, 1, 2, 3)) + bits.value() + tls_counter + static_cast<long>(big & 0xff) +
	       static_cast<long>(ld) + hidden.a + static_cast<int>(outer::Color::blue);
}
