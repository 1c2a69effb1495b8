// Package finder finds a module's file by its build-id: in an index of
// search directories, then through debuginfod servers (the standard HTTP
// protocol: GET URL/buildid/HEX/executable and /debuginfo), with a local
// cache and a timeout, so a dead server never stalls a batch.
package finder

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dsecore/dsecore/coreparse/symbols"
	"github.com/dsecore/dsecore/internal/cachefile"
)

// Options configure a Finder. Its caller decides them (session: the
// servers of $DEBUGINFOD_URLS, the limits of $DEBUGINFOD_*).
type Options struct {
	Dirs []string // searched recursively (to depth 4) for ELF files
	URLs []string // debuginfod servers; none: nothing is downloaded
	// Cache holds the downloads: Cache.Dir("debuginfod")/.build-id/xx/rest[.debug];
	// nil: nothing is downloaded.
	Cache   *cachefile.Cache
	Timeout time.Duration // per request; default 10 s
	MaxSize int64         // per download; default 4 GiB (DEBUGINFOD_MAXSIZE)
}

// Finder answers coreparse's FindFile.
type Finder struct {
	o      Options
	client *http.Client

	indexOnce sync.Once
	index     map[string]string // build-id hex → path

	mu      sync.Mutex
	dead    map[string]error // servers that failed to answer: not asked again
	fetched map[string]string
	missing map[string]string // build-id → module name, never found
	log     []string
}

// New returns a Finder.
func New(o Options) *Finder {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxSize <= 0 {
		o.MaxSize = 4 << 30
	}
	return &Finder{o: o, client: &http.Client{Timeout: o.Timeout}, dead: map[string]error{},
		fetched: map[string]string{}, missing: map[string]string{}}
}

// DebugDir is the directory of downloaded debug files, in the .build-id
// layout separate debug files are searched in ("" without a cache).
func (f *Finder) DebugDir() string { return f.o.Cache.Dir("debuginfod") }

func (f *Finder) buildIndex() {
	f.index = map[string]string{}
	for _, d := range f.o.Dirs {
		root := filepath.Clean(d)
		depth0 := strings.Count(root, string(filepath.Separator))
		filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if e.IsDir() {
				if strings.Count(p, string(filepath.Separator))-depth0 >= 4 {
					return fs.SkipDir
				}
				return nil
			}
			if e.Type()&fs.ModeSymlink != 0 {
				// A symlinked file is indexed as itself (lib.so.1 → a
				// file elsewhere, as /usr/lib/debug and sysroots hold
				// them); a symlinked directory is not walked (no loops).
				if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
					return nil
				}
			} else if !e.Type().IsRegular() {
				return nil
			}
			if id := buildID(p); id != "" {
				if _, dup := f.index[id]; !dup {
					f.index[id] = p
				}
			}
			return nil
		})
	}
}

func buildID(path string) string {
	fh, err := os.Open(path)
	if err != nil {
		return ""
	}
	var magic [4]byte
	_, err = io.ReadFull(fh, magic[:])
	fh.Close()
	if err != nil || !bytes.Equal(magic[:], []byte("\x7fELF")) {
		return ""
	}
	e, err := elf.Open(path)
	if err != nil {
		return ""
	}
	defer e.Close()
	return hex.EncodeToString(symbols.BuildID(e))
}

// Find returns a local file with the build-id, or "".
func (f *Finder) Find(name string, id []byte, isExe bool) string {
	h := hex.EncodeToString(id)
	if h == "" {
		return ""
	}
	f.indexOnce.Do(f.buildIndex)
	if p, ok := f.index[h]; ok {
		return p
	}
	if p := f.download(h, "executable", ""); p != "" {
		// The debug file too, where separate debug files are looked for.
		f.download(h, "debuginfo", ".debug")
		return p
	}
	f.mu.Lock()
	f.missing[h] = name
	f.mu.Unlock()
	return ""
}

// FindDebug returns a separate debug file with the build-id from the
// debuginfod servers (cached), or "". The search directories are not
// searched: debug files there are found by their .build-id layout.
func (f *Finder) FindDebug(name string, id []byte) string {
	h := hex.EncodeToString(id)
	if h == "" {
		return ""
	}
	return f.download(h, "debuginfo", ".debug")
}

// URLs are the debuginfod servers asked.
func (f *Finder) URLs() []string { return append([]string(nil), f.o.URLs...) }

// download fetches URL/buildid/HEX/what into the cache (once per build-id).
func (f *Finder) download(h, what, suffix string) string {
	if f.o.Cache == nil || len(f.o.URLs) == 0 || len(h) < 3 {
		return ""
	}
	dst := filepath.Join(f.DebugDir(), ".build-id", h[:2], h[2:]+suffix)
	if st, err := os.Stat(dst); err == nil && st.Mode().IsRegular() {
		// Sealed when downloaded (internal/cachefile): every block checked
		// before the file is used; a damaged one is fetched again.
		if _, err := cachefile.VerifyFile(dst); err == nil {
			return dst
		} else {
			cachefile.Warnf(dst, err)
		}
	}
	for _, u := range f.o.URLs {
		f.mu.Lock()
		_, dead := f.dead[u]
		f.mu.Unlock()
		if dead {
			continue
		}
		url := strings.TrimRight(u, "/") + "/buildid/" + h + "/" + what
		resp, err := f.client.Get(url)
		if err != nil {
			f.mu.Lock()
			f.dead[u] = err
			f.log = append(f.log, fmt.Sprintf("debuginfod %s: %v (not asked again in this run)", u, err))
			f.mu.Unlock()
			continue
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			continue
		}
		// What a server sends is not trusted: a file over the size limit
		// is refused from its announced length, or when it has sent more;
		// a file of another build-id when it has arrived.
		if resp.ContentLength > f.o.MaxSize {
			resp.Body.Close()
			f.ignored(u, what, h, fmt.Sprintf("%d bytes announced, over the limit of %d (DEBUGINFOD_MAXSIZE)", resp.ContentLength, f.o.MaxSize))
			continue
		}
		w, err := f.o.Cache.Create("download", dst, true, 0)
		if err != nil {
			resp.Body.Close()
			return ""
		}
		n, err := io.Copy(w, io.LimitReader(resp.Body, f.o.MaxSize+1))
		resp.Body.Close()
		var why string
		switch {
		case err != nil:
			why = err.Error()
		case n > f.o.MaxSize:
			why = fmt.Sprintf("more than %d bytes sent, over the limit (DEBUGINFOD_MAXSIZE)", f.o.MaxSize)
		default:
			if err := buildIDOK(w.Name(), h); err != nil {
				why = err.Error()
			}
		}
		if why != "" {
			w.Abort()
			f.ignored(u, what, h, why)
			continue
		}
		if err := w.Commit(); err != nil {
			return ""
		}
		f.mu.Lock()
		f.fetched[h+"/"+what] = u
		f.mu.Unlock()
		return dst
	}
	return ""
}

// ignored logs a download that was refused, with why.
func (f *Finder) ignored(u, what, h, why string) {
	f.mu.Lock()
	f.log = append(f.log, fmt.Sprintf("debuginfod %s: the %s of build-id %s: %s: ignored", u, what, h, why))
	f.mu.Unlock()
}

func buildIDOK(path, want string) error {
	if got := buildID(path); got != want {
		if got == "" {
			return fmt.Errorf("not an ELF file with a build-id")
		}
		return fmt.Errorf("the file has build-id %s", got)
	}
	return nil
}

// Report says what was downloaded, what was never found, and which
// servers failed.
func (f *Finder) Report() (fetched map[string]string, missing map[string]string, log []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fetched, missing = map[string]string{}, map[string]string{}
	for k, v := range f.fetched {
		fetched[k] = v
	}
	for k, v := range f.missing {
		missing[k] = v
	}
	return fetched, missing, append([]string(nil), f.log...)
}
