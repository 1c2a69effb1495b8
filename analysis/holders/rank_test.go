package holders

import "testing"

// TestRankTypedBeforeRaw: a typed path outranks a raw match whatever their
// scores: here a raw register holding the owner itself in main (weight
// 100, points-to: 150) against another thread's variable reaching a list
// element four hops away inside an object (weight 60, contains: 110).
func TestRankTypedBeforeRaw(t *testing.T) {
	targets := []Target{{Address: 0x1000, Size: 64, Role: "owner"}, {Address: 0x2000, Size: 32, Role: "list element #0", Weight: 60}}
	res := &Result{Hits: []Hit{
		{Who: "thread LWP 1 (ceph-dse)", LWP: 1, TaskID: -1, Frame: 4, Function: "main", Expr: "$r14", Target: 0,
			Relation: PointsTo, How: "register", Fallback: true},
		{Who: "thread LWP 2 (dcache_release)", LWP: 2, TaskID: -1, Frame: 2, Function: "lsm_release_all_csdobj", Variable: "lsm",
			Expr: "lsm->node->objs", Target: 1, Relation: Contains, Offset: 8, Depth: 4, How: "pointer chain"},
	}}
	rank(res, targets)
	score := map[bool]int{}
	for _, h := range res.Hits {
		score[h.Fallback] = h.Score
	}
	if score[false] >= score[true] {
		t.Fatalf("scores %d (typed) and %d (raw): the case does not test the rule", score[false], score[true])
	}
	if len(res.Holders) != 2 || res.Holders[0].LWP != 2 || res.Holders[0].Best.Fallback || res.Holders[1].LWP != 1 {
		t.Errorf("holders %+v: the typed path first", res.Holders)
	}
	if res.Hits[0].Fallback || !res.Hits[1].Fallback {
		t.Errorf("hits %+v: the typed path first", res.Hits)
	}
}
