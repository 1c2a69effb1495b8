package server

import (
	"fmt"
	"path/filepath"

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
