package holders

import (
	"sort"
	"strings"
)

// rank scores every hit and groups them by holder, strongest first.
//
// A score adds: the target's weight (the caller ranks an owner object above
// a list node); how directly the value holds it (a pointer to it or the
// object itself 30, a pointer into it 20, an object containing it 10, an
// equal integer 0); how it was found (a DWARF variable 40, less 5 a hop; a
// register no variable explains 10; a raw stack word 0); and 10 for a frame
// of the application's own code rather than a system library.
//
// A typed path (a DWARF variable's) always ranks before a raw match,
// whatever the scores: a register or stack word no variable explains
// may be anything that happens to equal the address (a temporary, a
// dead value), where a typed path says what holds the object and how. A
// raw register match on the owner in an unrelated frame must not name
// the holder when another thread's variable reaches a list element.
func rank(res *Result, targets []Target) {
	weights := make([]int, len(targets))
	for i, t := range targets {
		weights[i] = t.Weight
		if weights[i] == 0 {
			weights[i] = max(100-10*i, 10)
		}
	}
	for i := range res.Hits {
		h := &res.Hits[i]
		sc := weights[h.Target]
		switch h.Relation {
		case PointsTo, Is:
			sc += 30
		case PointsInto:
			sc += 20
		case Contains:
			sc += 10
		}
		switch {
		case !h.Fallback:
			sc += max(40-5*h.Depth, 5)
		case h.How == "register":
			sc += 10
		}
		if !h.systemFrame {
			sc += 10
		}
		h.Score = sc
	}
	sort.SliceStable(res.Hits, func(i, j int) bool {
		a, b := &res.Hits[i], &res.Hits[j]
		if a.Fallback != b.Fallback {
			return !a.Fallback
		}
		if a.Score != b.Score {
			return a.Score > b.Score
		}
		if a.Who != b.Who {
			return a.Who < b.Who
		}
		if a.Frame != b.Frame {
			return a.Frame < b.Frame
		}
		return a.Expr < b.Expr
	})
	type key struct {
		who  string
		lwp  int
		task int64
	}
	at := map[key]int{}
	for i, h := range res.Hits {
		k := key{h.Who, h.LWP, h.TaskID}
		j, ok := at[k]
		if !ok {
			j = len(res.Holders)
			at[k] = j
			res.Holders = append(res.Holders, Holder{Who: h.Who, Said: h.Said, LWP: h.LWP, TaskID: h.TaskID, Best: h})
		}
		res.Holders[j].Hits = append(res.Holders[j].Hits, i)
	}
}

// systemLibrary: the platform's libraries, whose frames hold what the
// application passed them.
func systemLibrary(base string) bool {
	for _, p := range []string{"libc.so", "libc-", "ld-linux", "libpthread", "libstdc++", "libgcc_s", "libm.so", "libboost_", "libtcmalloc", "libjemalloc"} {
		if strings.HasPrefix(base, p) {
			return true
		}
	}
	return false
}
