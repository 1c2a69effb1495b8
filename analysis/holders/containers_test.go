package holders_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dsecore/dsecore/analysis/holders"
	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/internal/testsupport/bound"
	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/dsecore/dsecore/internal/testsupport/testcore"
)

// containersProgram keeps one target object in each library container a
// holder may reach it through, prints the targets, then crashes with the
// holder in a parameter.
const containersProgram = `
#include <atomic>
#include <cstdio>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <vector>

struct obj_t { long id; char pad[40]; long tail; };
struct holder_t {
    std::map<int, obj_t*> by_id;
    std::list<obj_t*> lru;
    std::unordered_map<long, obj_t*> index;
    std::deque<obj_t> ring;
    std::shared_ptr<obj_t> sp;
    std::unique_ptr<obj_t> up;
    std::set<obj_t*> set;
    std::vector<obj_t> vec;
    obj_t* arr[3];
    std::atomic<obj_t*> at;
};

int* volatile nowhere;

__attribute__((noinline)) void crash(holder_t* h) {
    *nowhere = 1;
    std::printf("%p\n", (void*)h);
}

int main() {
    holder_t* h = new holder_t();
    obj_t* t[10];
    for (auto& x : t) x = new obj_t();
    for (int i = 0; i < 100; i++) h->by_id[i] = i == 57 ? t[0] : new obj_t();
    for (int i = 0; i < 5; i++) h->lru.push_back(i == 3 ? t[1] : new obj_t());
    for (long i = 0; i < 50; i++) h->index[i * 7] = i == 6 ? t[2] : new obj_t();
    for (int i = 0; i < 40; i++) h->ring.push_back(obj_t{i, {}, 0});
    t[3] = &h->ring[33];
    h->sp.reset(t[4]);
    h->up.reset(t[5]);
    for (int i = 0; i < 9; i++) h->set.insert(i == 4 ? t[6] : new obj_t());
    h->vec.resize(4);
    t[7] = &h->vec[2];
    h->arr[1] = t[8];
    h->at = t[9];
    for (int i = 0; i < 10; i++) std::fprintf(stderr, "t%d=%p\n", i, (void*)t[i]);
    crash(h);
    return 0;
}
`

// TestContainers: a target in each container is found through it, with a
// path dsecore's evaluator and gdb both evaluate to it.
func TestContainers(t *testing.T) {
	r := testcore.Make(t, testcore.Program{Name: "holders-containers", Lang: "c++", Source: containersProgram})
	p, err := coreparse.Open(coreparse.Options{Core: r.Core, Exe: r.Exe})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var targets []holders.Target
	for i, m := range regexp.MustCompile(`t(\d)=(0x[0-9a-f]+)`).FindAllStringSubmatch(r.Stderr, -1) {
		if m[1] != fmt.Sprint(i) {
			t.Fatalf("stderr %q", r.Stderr)
		}
		targets = append(targets, holders.Target{Address: fixture.Hex(t, m[2]), Size: 56, Role: "t" + m[1]})
	}
	if len(targets) != 10 {
		t.Fatalf("targets from %q", r.Stderr)
	}
	stacks := holders.Stacks(p, nil)
	res := holders.Search(p, stacks, targets, holders.Options{})
	for _, w := range res.Warnings {
		t.Errorf("warning: %s", w)
	}
	want := []struct {
		expr *regexp.Regexp
		text string
		rel  holders.Relation
	}{
		{regexp.MustCompile(`^\(\*\(std::pair<int const, obj_t\*> \*\)0x[0-9a-f]+\)\.second$`), "`h->by_id` element #57", holders.PointsTo},
		{regexp.MustCompile(`^\(\*\(obj_t \* \*\)0x[0-9a-f]+\)$`), "`h->lru` element #3", holders.PointsTo},
		{regexp.MustCompile(`^\(\*\(std::pair<long int const, obj_t\*> \*\)0x[0-9a-f]+\)\.second$`), "`h->index` element #", holders.PointsTo},
		{regexp.MustCompile(`^\(\*\(obj_t \*\)0x[0-9a-f]+\)$`), "`h->ring` element #33", holders.Is},
		{regexp.MustCompile(`^h->sp\._M_ptr$`), "`h->sp._M_ptr`", holders.PointsTo},
		{regexp.MustCompile(`^\(\*\(obj_t \* \*\)0x[0-9a-f]+\)$`), "`(*(obj_t * *)0x", holders.PointsTo}, // _M_head_impl is ambiguous in std::tuple
		{regexp.MustCompile(`^\(\*\(obj_t \* \*\)0x[0-9a-f]+\)$`), "`h->set` element #", holders.PointsTo},
		{regexp.MustCompile(`^h->vec\[2\]$`), "`h->vec` element #2", holders.Is},
		{regexp.MustCompile(`^h->arr\[1\]$`), "`h->arr` element #1", holders.PointsTo},
		{regexp.MustCompile(`^h->at\._M_b\._M_p$`), "`h->at._M_b._M_p`", holders.PointsTo},
	}
	var checks []gdbCheck
	for i, w := range want {
		var got *holders.Hit
		for j := range res.Hits {
			if h := &res.Hits[j]; h.Target == i && h.Function == "crash" && h.Variable == "h" {
				got = h
			}
		}
		if got == nil {
			t.Errorf("t%d: not found from crash()'s h", i)
			continue
		}
		if !w.expr.MatchString(got.Expr) || !strings.HasPrefix(got.Text, w.text) || got.Relation != w.rel || got.Fallback || got.Value != targets[i].Address {
			t.Errorf("t%d: %s / %s / %s / %#x", i, got.Expr, got.Text, got.Relation, got.Value)
		}
		if got.Relation == holders.PointsTo {
			checks = append(checks, gdbCheck{lwp: p.Threads[0].LWP, function: "crash", expr: got.Expr, want: targets[i].Address})
		} else {
			checks = append(checks, gdbCheck{lwp: p.Threads[0].LWP, function: "crash", expr: "&" + got.Expr, want: targets[i].Address})
		}
	}
	o := &opened{sc: &fixture.Scenario{Exe: r.Exe, Core: r.Core}, p: p}
	checkEval(t, o, stacks, res)
	checkGdb(t, o.sc, checks)
}

// corruptProgram links its containers into loops before it crashes: a list
// whose last node leads back to its second, a map whose leaf's right link
// is the tree's root, a hash chain that comes back to its first node, two
// objects pointing at each other.
const corruptProgram = `
#include <cstdio>
#include <iterator>
#include <list>
#include <map>
#include <unordered_map>

struct obj_t { long id; obj_t* peer; char pad[40]; };
struct holder_t {
    std::list<obj_t*> lru;
    std::map<int, obj_t*> by_id;
    std::unordered_map<long, obj_t*> index;
    obj_t* ring;
};

int* volatile nowhere;

__attribute__((noinline)) void crash(holder_t* h) {
    *nowhere = 1;
    std::printf("%p\n", (void*)h);
}

int main() {
    holder_t* h = new holder_t();
    obj_t* t[4];
    for (auto& x : t) x = new obj_t();
    for (int i = 0; i < 5; i++) h->lru.push_back(i == 1 ? t[0] : new obj_t());
    std::next(h->lru.begin(), 4)._M_node->_M_next = std::next(h->lru.begin(), 1)._M_node;
    for (int i = 0; i < 20; i++) h->by_id[i] = i == 0 ? t[1] : new obj_t();
    auto root = h->by_id.begin()._M_node;
    while (root->_M_parent->_M_parent != root) root = root->_M_parent;
    std::prev(h->by_id.end())._M_node->_M_right = root;
    for (long i = 0; i < 30; i++) h->index[i] = new obj_t();
    auto first = h->index.begin();
    first->second = t[2];
    std::next(first, 10)._M_cur->_M_nxt = first._M_cur;
    t[3]->peer = new obj_t();
    t[3]->peer->peer = t[3];
    h->ring = t[3]->peer;
    for (int i = 0; i < 4; i++) std::fprintf(stderr, "t%d=%p\n", i, (void*)t[i]);
    crash(h);
    return 0;
}
`

// TestCorruptContainers: containers whose links loop are walked once
// around and no further; what lies before the loop is still found.
func TestCorruptContainers(t *testing.T) {
	r := testcore.Make(t, testcore.Program{Name: "holders-corrupt", Lang: "c++", Source: corruptProgram})
	p, err := coreparse.Open(coreparse.Options{Core: r.Core, Exe: r.Exe})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var targets []holders.Target
	for _, m := range regexp.MustCompile(`t(\d)=(0x[0-9a-f]+)`).FindAllStringSubmatch(r.Stderr, -1) {
		targets = append(targets, holders.Target{Address: fixture.Hex(t, m[2]), Size: 56, Role: "t" + m[1]})
	}
	if len(targets) != 4 {
		t.Fatalf("targets from %q", r.Stderr)
	}
	var res *holders.Result
	bound.Within(t, 60*time.Second, func() {
		res = holders.Search(p, holders.Stacks(p, nil), targets, holders.Options{})
	}, "the search did not end on looping containers")
	texts := []string{"`h->lru` element #1", "`h->by_id` element #0", "`h->index` element #0", "`h->ring->peer`"}
	for i, want := range texts {
		ok := false
		for _, h := range res.Hits {
			ok = ok || h.Target == i && h.Function == "crash" && strings.HasPrefix(h.Text, want)
		}
		if !ok {
			t.Errorf("t%d: no hit %s in crash(): %+v", i, want, res.Hits)
		}
	}
}
