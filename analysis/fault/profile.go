package fault

import (
	"fmt"
	"os"

	"github.com/dsecore/dsecore/internal/l10n"
	"github.com/dsecore/dsecore/internal/yamlfile"
)

// Profile is the domain knowledge on top of the generic rules: names of
// states of the objects a list holds, and which functions are "the same
// operation" when two threads meet in them.
type Profile struct {
	Name string `yaml:"name"`
	// ElementState names a field of list elements and its values
	// ("state": {0xdead: "returned to the pool"}).
	ElementStateField string           `yaml:"element_state_field"`
	ElementStates     map[int64]string `yaml:"element_states"`
	// Operations: functions whose concurrent execution is worth flagging.
	Operations []string `yaml:"operations"`
	// LogConcurrent: log messages (substrings) that mark the start of an
	// operation; the same one from two threads close in time is flagged.
	LogConcurrent []string `yaml:"log_concurrent"`
	// Summaries name, per type, the members its one-line summary shows,
	// in order, each "member" or "member/x" (gdb's print format letter:
	// x for hex): the gdb bridge's printers read them by these names.
	Summaries map[string][]string `yaml:"summaries"`
}

// DefaultProfileName names the built-in profile used when none is named.
const DefaultProfileName = "dcache"

// DefaultProfile is the dcache profile of ceph-dse.
func DefaultProfile() *Profile {
	return &Profile{
		Name:              DefaultProfileName,
		ElementStateField: "state",
		ElementStates:     map[int64]string{0xdead: l10n.T("profile.dcache-disposed").String()},
		Operations:        []string{"lsm_destroy", "lsm_release_all_csdobj", "dm_hash_node_t::clear", "dm_hash_node_t::release_obj", "DCache_shutdown"},
		LogConcurrent:     []string{"lsm_destroy start", "DCache_shutdown:start", "release all csd obj"},
		Summaries:         map[string][]string{"dm_hash_node_t": {"key/x", "bucket", "refcount", "state"}},
	}
}

// builtinStates are the catalog's ids of the built-in profile's state
// names.
var builtinStates = []string{"profile.dcache-disposed"}

// stateSaid is a profile's state name in the catalog's words: the
// built-in profile's are the catalog's, a profile file's own are its
// words as written.
func stateSaid(name string) l10n.Msg {
	for _, id := range builtinStates {
		if m := l10n.T(id); m.String() == name {
			return m
		}
	}
	return l10n.Verbatim(name)
}

// IsBuiltin says whether LoadProfile(nameOrPath) is the built-in profile
// (DefaultProfile, which cannot fail).
func IsBuiltin(nameOrPath string) bool { return nameOrPath == "" || nameOrPath == DefaultProfileName }

// LoadProfile reads a fault-analysis profile: "" or "dcache" for the
// built-in one, else a YAML file of the keys above (as written: case
// kept, type names in summaries too), each overriding the built-in
// profile's; element_states and summaries, when given, replace its maps
// whole. What is wrong is said with the file, the line and the key
// (internal/yamlfile, as the coroutine profile's).
func LoadProfile(nameOrPath string) (*Profile, error) {
	if IsBuiltin(nameOrPath) {
		return DefaultProfile(), nil
	}
	if _, err := os.Stat(nameOrPath); err != nil {
		return nil, fmt.Errorf("analysis profile %q: not \"dcache\" and not a file: %w", nameOrPath, err)
	}
	data, err := os.ReadFile(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("analysis profile %s: %w", nameOrPath, err)
	}
	f, err := yamlfile.ParseFields("analysis profile", nameOrPath, data, yamlfile.Keys(Profile{}))
	if err != nil {
		return nil, err
	}
	p := DefaultProfile()
	if f.Has("element_states") {
		p.ElementStates = nil
	}
	if f.Has("summaries") {
		p.Summaries = nil
	}
	f.DecodeStruct(p)
	if err := f.Err(); err != nil {
		return nil, err
	}
	return p, nil
}
