package symbols

import (
	"os"
	"sync"

	"github.com/dsecore/dsecore/internal/par"
)

// Cache shares symbol tables between processes opened in one run: the cores
// of one build parse its DWARF once. Tables are keyed by the file and debug
// file paths with their sizes and modification times; a Cache's tables live
// until Close.
type Cache struct {
	mu sync.Mutex
	m  map[cacheKey]*cacheEntry
}

type cacheKey struct {
	path, debug   string
	size, dsize   int64
	mtime, dmtime int64
}

type cacheEntry struct {
	once par.Once
	t    *Table
	err  error
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{m: map[cacheKey]*cacheEntry{}} }

func stamp(path string) (int64, int64) {
	if path == "" {
		return 0, 0
	}
	st, err := os.Stat(path)
	if err != nil {
		return -1, -1
	}
	return st.Size(), st.ModTime().UnixNano()
}

// Open returns the shared table of path (and debugPath), opening it on
// first use. Callers must not Close it: the cache does.
func (c *Cache) Open(path, debugPath string) (*Table, error) { return c.OpenWith(path, debugPath, nil) }

// OpenWith is Open with where the table looks for the files its DWARF
// refers to (the first opening's resolver holds for the table's life).
func (c *Cache) OpenWith(path, debugPath string, r *Resolver) (*Table, error) {
	k := cacheKey{path: path, debug: debugPath}
	k.size, k.mtime = stamp(path)
	k.dsize, k.dmtime = stamp(debugPath)
	c.mu.Lock()
	e, ok := c.m[k]
	if !ok {
		e = &cacheEntry{}
		c.m[k] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.t, e.err = OpenWith(path, debugPath, r) })
	return e.t, e.err
}

// Len is the number of tables opened.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// Close closes every table.
func (c *Cache) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.t != nil {
			e.t.Close()
		}
		delete(c.m, k)
	}
}
