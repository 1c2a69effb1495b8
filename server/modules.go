package server

import (
	"encoding/hex"
	"fmt"
	"path/filepath"

	"github.com/dsecore/dsecore/coreparse"
	"github.com/dsecore/dsecore/report"
	"github.com/google/go-dap"
)

func (c *conn) modules(r *dap.ModulesRequest) {
	var out []dap.Module
	for _, m := range c.st.p.Modules {
		// What of its debug information was found: "full", "partial: …",
		// "names only (MiniDebugInfo)", "BUILD-ID MISMATCH: …".
		status := report.ModuleDoc(m).SymbolStatus
		dm := dap.Module{Id: m.Name, Name: filepath.Base(m.Name), Path: m.Path, SymbolStatus: status, SymbolFilePath: m.DebugPath,
			AddressRange: fmt.Sprintf("%#x-%#x", m.Start, m.End)}
		out = append(out, dm)
	}
	start := min(max(r.Arguments.StartModule, 0), len(out))
	end := len(out)
	if r.Arguments.ModuleCount > 0 {
		end = min(end, start+r.Arguments.ModuleCount)
	}
	// go-dap's Module has no extension fields: send the build-id and debug
	// file columns through a raw body.
	mods := make([]map[string]any, 0, end-start)
	for i, dm := range out[start:end] {
		m := c.st.p.Modules[start+i]
		mods = append(mods, map[string]any{"id": dm.Id, "name": dm.Name, "path": dm.Path, "symbolStatus": dm.SymbolStatus,
			"symbolFilePath": dm.SymbolFilePath, "addressRange": dm.AddressRange, "buildId": m.BuildID(), "debugFile": m.DebugPath})
	}
	c.send(&rawModulesResponse{Response: response(&r.Request), Body: rawModulesBody{Modules: mods, TotalModules: len(out)}})
}

type rawModulesBody struct {
	Modules      []map[string]any `json:"modules"`
	TotalModules int              `json:"totalModules"`
}

// rawModulesResponse is a modules response whose modules carry the extra
// columns of additionalModuleColumns.
type rawModulesResponse struct {
	dap.Response
	Body rawModulesBody `json:"body"`
}

// eventModules is the event that tells a client, once after launch, the
// modules whose files are missing or of another build.
const eventModules = "dsecore/modules"

// moduleProblem is one module the session cannot trust, as the client
// acts on it: which module, what is wrong (report.ModuleStatus's status),
// which launch argument fixes it, and the one sentence that says it.
type moduleProblem struct {
	Module      string `json:"module"`
	Path        string `json:"path,omitempty"`
	Status      string `json:"status" jsonschema:"enum=missing,enum=build-id-mismatch"`
	BuildID     string `json:"buildId"`
	FileBuildID string `json:"fileBuildId,omitempty"`
	// Fix is the launch argument that points at the right file: "program"
	// for the executable, "solibSearchPath" for a library.
	Fix     string `json:"fix" jsonschema:"enum=program,enum=solibSearchPath"`
	Message string `json:"message"`

	problem string // the module's Problem, as the core's warning begins
}

type modulesEventBody struct {
	Problems []moduleProblem `json:"problems"`
}

type modulesEvent struct {
	dap.Event
	Body modulesEventBody `json:"body"`
}

// moduleProblems are the process's modules with a problem, in module
// order.
func moduleProblems(p *coreparse.Process) []moduleProblem {
	var out []moduleProblem
	for _, m := range p.Modules {
		problem := m.Problem()
		if problem == "" {
			continue
		}
		pr := moduleProblem{Module: m.Name, Path: m.Path, Status: report.ModuleDoc(m).Status, BuildID: m.BuildID(),
			Fix: "solibSearchPath", problem: problem}
		if m.BuildIDMismatch {
			pr.FileBuildID = hex.EncodeToString(m.FileBuildID)
		}
		remedy := "set solibSearchPath or sysroot"
		if m.IsExe {
			pr.Fix, remedy = "program", "set program"
		}
		pr.Message = problem + " (" + remedy + ")"
		out = append(out, pr)
	}
	return out
}
