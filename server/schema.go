package server

import (
	"reflect"

	"github.com/dsecore/dsecore/internal/docschema"
)

// Document is a JSON document the server sends that a client reads by
// field (the VS Code extension's views): the body of a dsecore/ response
// or event. Its schema (docschema, from the Go type that is marshalled)
// is checked in as docs/schema/<Name>.schema.json; the extension's view
// types are generated from those files (vscode-ext/src/documents.ts).
type Document struct {
	Name, Title, Description string
	typ                      reflect.Type
}

// Documents are the server's documents, in a fixed order.
func Documents() []Document {
	return []Document{
		{"dap-analysis", "DapAnalysis", "The body of the dsecore/analysis response: the fault analysis " +
			"(inspect --json's analysis), the tasks' DAP threads and, when something waits, the wait graph (inspect --json's waits).",
			reflect.TypeFor[analysisBody]()},
		{"dap-tasks", "DapTasks", "The body of the dsecore/tasks response: the Processers and the coroutine tasks, " +
			"each task with the DAP thread its stack is listed under.", reflect.TypeFor[tasksBody]()},
		{"dap-modules", "DapModules", "The body of the dsecore/modules event: the modules whose files are missing " +
			"or of another build, once after launch.", reflect.TypeFor[modulesEventBody]()},
		{"dap-frame-index", "DapFrameIndex", "The body of the dsecore/frameIndex response: where a frame id is.",
			reflect.TypeFor[frameIndexBody]()},
	}
}

// Schema is the document's JSON Schema (draft 2020-12).
func (d Document) Schema() ([]byte, error) {
	return docschema.Generate(d.typ, d.Title, d.Description)
}
