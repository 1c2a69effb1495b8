package batch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"

	"github.com/dsecore/dsecore/coreparse/corestore"
	"github.com/dsecore/dsecore/internal/cachefile"
	"github.com/dsecore/dsecore/internal/l10n"
	"github.com/dsecore/dsecore/internal/mmap"
	"github.com/dsecore/dsecore/session"
)

// RunOptions are a batch run's settings.
type RunOptions struct {
	// Session is what every core's session is opened with (no Core, no
	// Shared: Run decides the run's shared part from it).
	Session session.Options
	// Summary is what each core's summary takes (Summarize).
	Summary Options
	// Jobs is how many cores are summarized at once (at least one).
	Jobs int
	// NoCache summarizes every core again instead of reusing the result
	// cached for it.
	NoCache bool
	// Progress, when set, is told of each core as it starts and ends.
	Progress Progress
}

// Progress follows a run core by core; its methods are called from the
// run's workers at once.
type Progress interface {
	Start(path string)
	Done()
}

// Run summarizes the inputs, Jobs at a time, and builds the summary
// document (groups marked new against baseline, as BuildSummary). One
// finder and one symbol-table cache serve every core (session.NewShared:
// a build's tables are parsed once, a dead debuginfod server asked once);
// the profiles are loaded there, before any core is read, and a profile
// that cannot be loaded is Run's error. A core's result is cached in the
// run's cache under its path, size, time and the options it depends on,
// and reused while they are unchanged. The document's warnings are the
// finder's log.
func Run(inputs []corestore.Input, baseline []Group, o RunOptions) (*Summary, error) {
	shared, err := session.NewShared(o.Session)
	if err != nil {
		return nil, err
	}
	defer shared.Close()
	base := o.Session
	base.Shared = shared
	prof := shared.CoroutineProfile()
	opts := o.Summary
	so := base.WithDefaults()
	// The profile by its content, not its name: an edited profile file
	// reads the cores again.
	profYAML, _ := prof.YAML("", nil)
	optKey := fmt.Sprintf("v%d|%v|%s|%v|%s|%x|%s|%d|%v", SchemaVersion, so.SolibSearchPath, so.Sysroot, so.DebugFileDirs,
		so.CoroutineProfile, sha256.Sum256(profYAML), so.AnalysisProfile, opts.Frames, opts.CephCrashDirs)
	useCache := !o.NoCache && o.Session.CacheDir != ""

	cores := make([]Core, len(inputs))
	jobs := max(1, o.Jobs)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < jobs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mmap.Guard() // a fault of a changed file is that core's error (Summarize recovers)
			for i := range next {
				in := inputs[i]
				if o.Progress != nil {
					o.Progress.Start(in.Path)
				}
				cores[i] = summarizeOne(in, base, opts, useCache, optKey)
				if o.Progress != nil {
					o.Progress.Done()
				}
			}
		}()
	}
	for i := range inputs {
		next <- i
	}
	close(next)
	wg.Wait()

	doc := BuildSummary(cores, baseline)
	doc.CoroutineProfile = prof.Describe()
	fetched, _, flog := shared.Finder.Report()
	for k, u := range fetched {
		doc.Fetched = append(doc.Fetched, k+" from "+u)
	}
	doc.Warnings = flog
	return doc, nil
}

// summarizeOne summarizes a core, or reuses its cached result.
func summarizeOne(in corestore.Input, base session.Options, opts Options, useCache bool, optKey string) Core {
	cache := base.Shared.Cache
	c := Core{Path: in.Path, Size: in.Size, MTime: in.MTime, Time: in.Time, Compression: in.Compression, Node: in.Node}
	var cachePath string
	if useCache {
		k := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%d\x00%s", in.Path, in.Size, in.MTime.UnixNano(), optKey)))
		cachePath = filepath.Join(cache.Dir("results-v3"), hex.EncodeToString(k[:16])+".json")
		// Sealed (internal/cachefile): a result that does not check out is
		// made again, with a warning.
		if b, err := cachefile.ReadSealed(cachePath); err == nil {
			var cached cachedResult
			if json.Unmarshal(b, &cached) == nil && cached.Path == in.Path {
				cached.Cached = true
				cached.Node = in.Node
				cached.Core.Sentences = cached.Sentences
				return cached.Core
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			cachefile.Warnf(cachePath, err)
		}
	}
	local, err := in.Local(cache, base.WithDefaults().MaxCoreSize)
	if err != nil {
		return Failed(c, err)
	}
	o := base
	o.Core = local
	if s, err := openForSummary(o); err != nil {
		c = Failed(c, err)
	} else {
		c = Summarize(s, c, opts)
		s.Close()
		if ch := s.Changed(); len(ch) > 0 {
			// Read from files that changed meanwhile: warned, never cached.
			c.Warnings = append(c.Warnings, ch...)
			cachePath = ""
		}
	}
	if cachePath != "" {
		if b, err := json.Marshal(cachedResult{c, c.Sentences}); err == nil {
			cache.Write("result", cachePath, true, b)
		}
	}
	return c
}

// cachedResult is a core's summary as cached: the document's fields and
// the verdict's catalog messages, which the document leaves out, so that a
// cached core's verdict is rendered in every language too.
type cachedResult struct {
	Core
	Sentences []l10n.Msg `json:"verdict_sentences,omitempty"`
}

// openForSummary opens one core of a summary: a file of it that changed
// while it was read is that core's error, not the run's end.
func openForSummary(o session.Options) (s *session.Session, err error) {
	defer mmap.Catch(&err)
	return session.Open(o)
}
