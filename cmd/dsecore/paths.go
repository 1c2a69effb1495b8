package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// A path list (--solib-search-path, --debug-file-directory, --log, ...)
// comes from repeated flags, each value split at ':' as gdb splits its
// search paths; else from $DSECORE_<FLAG>, split the same way; else from
// the configuration file, a YAML list (each element one path, as written)
// or a string split at ':'. It is never parsed as CSV (pflag's and viper's
// string slices are: a ',' in a directory name split it, a '"' was an
// error), so paths with ',', '"', spaces and any UTF-8 work.

// pathList is a flag value holding a path list.
type pathList struct{ paths []string }

// Set adds the paths of one flag value.
func (p *pathList) Set(s string) error {
	p.paths = append(p.paths, splitPaths(s)...)
	return nil
}

// Type is what the help text shows. (Not "stringSlice" or "stringArray":
// viper reads those back through a CSV parser.)
func (p *pathList) Type() string { return "paths" }

func (p *pathList) String() string { return strings.Join(p.paths, string(filepath.ListSeparator)) }

// splitPaths splits a value at ':' (empty parts dropped).
func splitPaths(s string) []string {
	var out []string
	for _, part := range filepath.SplitList(s) {
		if part != "" {
			out = append(out, part)
		}
	}
	return out
}

// pathsFlag declares a path-list flag.
func pathsFlag(cmd *cobra.Command, name, usage string) {
	cmd.Flags().Var(&pathList{}, name, usage+" (repeatable, or several separated by ':')")
}

// running is the command being run (set before it runs): its flags are
// where the path lists given on the command line are.
var running *cobra.Command

// getPaths is the path list of a flag: the command line's, else the
// environment's, else the configuration file's, else nil.
func getPaths(name string) []string {
	if running != nil {
		if f := running.Flags().Lookup(name); f != nil && f.Changed {
			if p, ok := f.Value.(*pathList); ok {
				return append([]string(nil), p.paths...)
			}
		}
	}
	env := "DSECORE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if v, ok := os.LookupEnv(env); ok && v != "" {
		return splitPaths(v)
	}
	if !config.InConfig(name) {
		return nil
	}
	switch v := config.Get(name).(type) {
	case string:
		return splitPaths(v)
	case []any:
		var out []string
		for _, e := range v {
			if s := fmt.Sprint(e); s != "" {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return v
	}
	return nil
}
