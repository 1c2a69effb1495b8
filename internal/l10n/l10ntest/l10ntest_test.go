package l10ntest

import "testing"

// TestEnglishIn: English prose is seen, names are let be.
func TestEnglishIn(t *testing.T) {
	if w := EnglishIn("另一条路径也在操作同一个对象：task 15 holds the owner dm_hash_node_t 0x5629。"); len(w) != 3 {
		t.Errorf("English words %q, want task, holds, the", w)
	}
	if w := EnglishIn("任务 15 (Processer 6，block) 以 `node` 持有属主对象 dm_hash_node_t 0x56299fd78530（参数 `node`，帧 #3 (anonymous namespace)::release_wait ← lsm_destroy）。"); len(w) != 0 {
		t.Errorf("English words %q in a Chinese sentence with names", w)
	}
	if w := EnglishIn("心跳句柄 'dse_op_tp thread 0x7f5a' 已超时"); len(w) != 0 {
		t.Errorf("English words %q in a quoted handle name", w)
	}
	if w := EnglishIn("取自 the previous node's next_ link"); len(w) != 1 {
		t.Errorf("English words %q, want the (an apostrophe is no quotation)", w)
	}
	if HasHan("NULL pointer read") || !HasHan("空指针") {
		t.Error("HasHan")
	}
}
