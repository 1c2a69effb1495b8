package fault

import (
	"fmt"
	"os"

	"github.com/dsecore/dsecore/internal/yamlfile"
	"github.com/spf13/viper"
)

// Profile is the domain knowledge on top of the generic rules: names of
// states of the objects a list holds, and which functions are "the same
// operation" when two threads meet in them.
type Profile struct {
	Name string `mapstructure:"name"`
	// ElementState names a field of list elements and its values
	// ("state": {0xdead: "returned to the pool"}).
	ElementStateField string           `mapstructure:"element_state_field"`
	ElementStates     map[int64]string `mapstructure:"element_states"`
	// Operations: functions whose concurrent execution is worth flagging.
	Operations []string `mapstructure:"operations"`
	// LogConcurrent: log messages (substrings) that mark the start of an
	// operation; the same one from two threads close in time is flagged.
	LogConcurrent []string `mapstructure:"log_concurrent"`
	// Summaries name, per type, the members its one-line summary shows,
	// in order, each "member" or "member/x" (gdb's print format letter:
	// x for hex): the gdb bridge's printers read them by these names.
	Summaries map[string][]string `mapstructure:"summaries"`
}

// DefaultProfileName names the built-in profile used when none is named.
const DefaultProfileName = "dcache"

// DefaultProfile is the dcache profile of ceph-dse.
func DefaultProfile() *Profile {
	return &Profile{
		Name:              DefaultProfileName,
		ElementStateField: "state",
		ElementStates:     map[int64]string{0xdead: "returned to the dcache pool (disposed)"},
		Operations:        []string{"lsm_destroy", "lsm_release_all_csdobj", "dm_hash_node_t::clear", "dm_hash_node_t::release_obj", "DCache_shutdown"},
		LogConcurrent:     []string{"lsm_destroy start", "DCache_shutdown:start", "release all csd obj"},
		Summaries:         map[string][]string{"dm_hash_node_t": {"key/x", "bucket", "refcount", "state"}},
	}
}

// LoadProfile reads a fault-analysis profile: "" or "dcache" for the
// built-in one, else a YAML file.
func LoadProfile(nameOrPath string) (*Profile, error) {
	if nameOrPath == "" || nameOrPath == DefaultProfileName {
		return DefaultProfile(), nil
	}
	if _, err := os.Stat(nameOrPath); err != nil {
		return nil, fmt.Errorf("analysis profile %q: not \"dcache\" and not a file: %w", nameOrPath, err)
	}
	v := viper.New()
	v.SetConfigFile(nameOrPath)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		return nil, err
	}
	p := DefaultProfile()
	if v.IsSet("element_states") {
		p.ElementStates = map[int64]string{}
	}
	if v.IsSet("summaries") {
		p.Summaries = map[string][]string{}
	}
	if err := v.Unmarshal(p); err != nil {
		return nil, err
	}
	if v.IsSet("summaries") {
		// viper folds keys to lower case; type names keep theirs.
		sums, err := readSummaries(nameOrPath)
		if err != nil {
			return nil, err
		}
		p.Summaries = sums
	}
	return p, nil
}

// readSummaries reads a profile file's summaries with their type names as
// written.
func readSummaries(path string) (map[string][]string, error) {
	var doc map[string]any
	if _, err := yamlfile.ReadMapping(path, &doc); err != nil {
		return nil, err
	}
	m, ok := doc["summaries"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: summaries: want a mapping of type names to member lists", path)
	}
	out := map[string][]string{}
	for t, v := range m {
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s: summaries: %s: want a list of members", path, t)
		}
		for _, x := range list {
			name, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("%s: summaries: %s: %v is not a member name", path, t, x)
			}
			out[t] = append(out[t], name)
		}
	}
	return out, nil
}
