package server

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsecore/dsecore/internal/testsupport/fixture"
	"github.com/google/go-dap"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

var updateSchema = flag.Bool("update", false, "rewrite docs/schema/ with the schemas the Go types give now")

const schemaDir = "../docs/schema"

// TestSchemaUpToDate: docs/schema/ holds the schema of each document as
// the Go types give it now (go test ./server -run TestSchemaUpToDate
// -update rewrites them; vscode-ext's `npm run gen-types` then makes the
// extension's view types from them).
func TestSchemaUpToDate(t *testing.T) {
	want := map[string]bool{}
	for _, d := range Documents() {
		want[d.Name+".schema.json"] = true
		b, err := d.Schema()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(schemaDir, d.Name+".schema.json")
		if *updateSchema {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		old, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(old, b) {
			t.Errorf("%s is stale (%v): run go test ./server -run TestSchemaUpToDate -update, then npm run gen-types in vscode-ext", path, err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(schemaDir, "*.json"))
	for _, f := range files {
		if !want[filepath.Base(f)] {
			t.Errorf("%s is the schema of no document", f)
		}
	}
}

// validator compiles the checked-in schemas.
func validator(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	out := map[string]*jsonschema.Schema{}
	for _, d := range Documents() {
		abs, _ := filepath.Abs(filepath.Join(schemaDir, d.Name+".schema.json"))
		s, err := c.Compile(abs)
		if err != nil {
			t.Fatal(err)
		}
		out[d.Name] = s
	}
	return out
}

func validate(t *testing.T, s *jsonschema.Schema, what string, body []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := s.Validate(v); err != nil {
		t.Errorf("%s does not match its schema: %v", what, err)
	}
}

// bodyOf is a raw message's body.
func bodyOf(t *testing.T, raw []byte) []byte {
	t.Helper()
	var m struct {
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(raw, &m); err != nil || len(m.Body) == 0 {
		t.Fatalf("no body: %s", raw)
	}
	return m.Body
}

// TestSchemaValidatesSessions: what the server sends on real cores matches
// the checked-in schemas: the analysis and tasks of the field crash (the
// fault, objects, list walk, memory and holders, logs and timeline), of the
// task deadlock (the wait graph's cycle) and of the heartbeat hang (Ceph's
// watchdog), the frame index, and the missing library's dsecore/modules
// event. Each body is also checked to have the parts the views read, so
// that the validation is not of empty documents.
func TestSchemaValidatesSessions(t *testing.T) {
	set := fixture.Get(t)
	schemas := validator(t)
	for _, tc := range []struct {
		name string
		// parts: keys the analysis body must carry (a.b: in a's object).
		parts []string
	}{
		{fixture.FieldCrash, []string{"analysis.fault", "analysis.objects", "analysis.memory", "analysis.timeline", "analysis.logs"}},
		{fixture.TaskDeadlock, []string{"waits.cycles", "waits.nodes", "waits.objects"}},
		{fixture.Heartbeat, []string{"waits.watchdog"}},
		{fixture.Abort, []string{"analysis.fault"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := set.Scenario(t, tc.name)
			out := &syncBuffer{}
			c := &client{t: t, s: newConn(out), out: out}
			defer c.s.close()
			c.ok("initialize", map[string]any{"adapterID": "test"})
			c.ok("launch", map[string]any{"coreFile": sc.Core, "program": sc.Exe, "logFiles": []string{sc.Dir}})
			c.ok("configurationDone", nil)
			_, raw, w := c.call(cmdAnalysis, nil)
			if !w.Success {
				t.Fatalf("%s: %s", cmdAnalysis, raw)
			}
			body := bodyOf(t, raw)
			validate(t, schemas["dap-analysis"], cmdAnalysis, body)
			var doc map[string]json.RawMessage
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.parts {
				obj, key, _ := strings.Cut(p, ".")
				var part map[string]json.RawMessage
				json.Unmarshal(doc[obj], &part)
				if v, ok := part[key]; !ok || string(v) == "null" || string(v) == "[]" {
					t.Errorf("the analysis body has no %s: %.300s", p, body)
				}
			}
			_, raw, w = c.call(cmdTasks, nil)
			if !w.Success {
				t.Fatalf("%s: %s", cmdTasks, raw)
			}
			tasks := bodyOf(t, raw)
			validate(t, schemas["dap-tasks"], cmdTasks, tasks)
			if !bytes.Contains(tasks, []byte(`"threadId":`)) {
				t.Errorf("no task or Processer in %s", tasks)
			}

			st := c.ok("stackTrace", map[string]any{"threadId": c.s.st.crashThreadID(), "levels": 3}).(*dap.StackTraceResponse).Body
			if len(st.StackFrames) < 2 {
				t.Fatalf("crash stack: %+v", st)
			}
			_, raw, w = c.call(cmdFrameIndex, map[string]any{"frameId": st.StackFrames[1].Id})
			if !w.Success {
				t.Fatalf("%s: %s", cmdFrameIndex, raw)
			}
			fi := bodyOf(t, raw)
			validate(t, schemas["dap-frame-index"], cmdFrameIndex, fi)
			if !bytes.Contains(fi, []byte(`"index":1,`)) {
				t.Errorf("frame index of frame 1: %s", fi)
			}
		})
	}
}

// TestSchemaValidatesModulesEvent: the missing library's dsecore/modules
// event, as sent over the wire, matches its schema.
func TestSchemaValidatesModulesEvent(t *testing.T) {
	set := fixture.Get(t)
	schemas := validator(t)
	c := startServer(t, Config{})
	c.launch(map[string]any{"coreFile": filepath.Join(set.Dir, "missing-lib", "core")})
	ev := c.eventsNamed(eventModules)
	if len(ev) != 1 {
		t.Fatalf("%d dsecore/modules events", len(ev))
	}
	body := bodyOf(t, ev[0].raw)
	validate(t, schemas["dap-modules"], eventModules, body)
	if !bytes.Contains(body, []byte(`"status":"missing"`)) {
		t.Errorf("modules event: %s", body)
	}
}

// TestSchemaRejects: the schemas are strict enough to catch what a
// client would trip on: a renamed field, a field of another type, an
// address written as a number, an unknown status.
func TestSchemaRejects(t *testing.T) {
	schemas := validator(t)
	ok := `{"problems":[{"module":"/lib/libdcache.so","status":"missing","buildId":"ab","fix":"solibSearchPath","message":"m"}]}`
	bad := map[string]string{
		"a field renamed":         strings.Replace(ok, `"fix"`, `"remedy"`, 1),
		"a required field absent": strings.Replace(ok, `"buildId":"ab",`, ``, 1),
		"an unknown fix":          strings.Replace(ok, `"solibSearchPath"`, `"sysroot"`, 1),
		"a string as a number":    strings.Replace(ok, `"message":"m"`, `"message":3`, 1),
	}
	m := schemas["dap-modules"]
	if err := m.Validate(mustJSON(t, ok)); err != nil {
		t.Fatalf("a good body rejected: %v", err)
	}
	for what, b := range bad {
		if m.Validate(mustJSON(t, b)) == nil {
			t.Errorf("%s: accepted: %s", what, b)
		}
	}
	frame := `{"index":1,"threadId":7}`
	if schemas["dap-frame-index"].Validate(mustJSON(t, frame)) != nil ||
		schemas["dap-frame-index"].Validate(mustJSON(t, `{"index":"1","threadId":7}`)) == nil {
		t.Error("frame index: a good body rejected or an index as a string accepted")
	}
	waits := `{"crashThreadId":1,"analysis":null,"taskThreads":{},"waits":{"nodes":[],"objects":[{"address":%s,"kind":"mutex","expr":"x","how":"global","inferred":false,"hold_frame":-1,"locked":true,"waiters":[],"text":"t"}],` +
		`"cycles":[],"chains":[],"hang":false,"summary":"","stats":{"threads":1,"tasks":0,"waiting":0,"objects":1}},"localized":{"lang":"en","verdict":"v"}}`
	a := schemas["dap-analysis"]
	if err := a.Validate(mustJSON(t, strings.Replace(waits, "%s", `"0x7f00"`, 1))); err != nil {
		t.Errorf("a wait object with a hex address rejected: %v", err)
	}
	if a.Validate(mustJSON(t, strings.Replace(waits, "%s", `139637976727296`, 1))) == nil {
		t.Error("a wait object's address as a number accepted")
	}
}

func mustJSON(t *testing.T, s string) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
