// Command plot draws benchmarks/run.py's results.json as a PNG: wall time of
// each tool's first answer and of everything (all threads, and all tasks
// for dsecore) against the core's size (heap 512 MiB vs 4 GiB, 100 MiB of
// DWARF) and against libdcache.so's DWARF size (10 vs 100 MiB, 512 MiB of
// heap), one panel each.
//
//	go run ./benchmarks/plot results.json scaling.png
package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"os"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

type row struct {
	Category string   `json:"category"`
	Tool     string   `json:"tool"`
	Wall     float64  `json:"wall"`
	CoreMiB  float64  `json:"core_mib"`
	DwarfMB  *float64 `json:"dwarf_mb"`  // asked of fixtures/scale.sh
	DwarfMiB float64  `json:"dwarf_mib"` // measured in the library
	HeapMB   *float64 `json:"heap_mb"`
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: plot results.json out.png")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var doc struct {
		Rows []row `json:"rows"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	panels := [][]*plot.Plot{{
		panel(doc.Rows, "time against core size (DWARF 100 MiB)", "core file, MiB",
			func(r row) (float64, bool) { return r.CoreMiB, r.DwarfMB != nil && *r.DwarfMB == 100 }),
		panel(doc.Rows, "time against DWARF size (heap 512 MiB)", "libdcache.so DWARF, MiB",
			func(r row) (float64, bool) { return r.DwarfMiB, r.HeapMB != nil && *r.HeapMB == 512 && r.DwarfMiB > 0 }),
	}}
	const w, h = 28 * vg.Centimeter, 11 * vg.Centimeter
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Centimeter, PadY: vg.Centimeter / 2,
		PadLeft: vg.Centimeter / 4, PadRight: vg.Centimeter / 4, PadTop: vg.Centimeter / 4, PadBottom: vg.Centimeter / 4}
	canvases := plot.Align(panels, tiles, dc)
	for i, p := range panels[0] {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// panel plots, per tool and category (first answer, everything), wall time
// against x for the rows keep accepts.
func panel(rows []row, title, xlabel string, x func(row) (float64, bool)) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = "wall time, s (log)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = secondsTicks{}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.TextStyle.Font.Size = vg.Points(7)
	series := map[string]plotter.XYs{}
	for _, r := range rows {
		if r.Category != "first answer" && r.Category != "everything" || r.DwarfMB == nil || r.HeapMB == nil {
			continue
		}
		if r.Category == "everything" && strings.HasPrefix(r.Tool, "eu-stack") {
			continue // the same command as its first answer (no one-thread mode for cores)
		}
		xv, ok := x(r)
		if !ok || r.Wall <= 0 {
			continue
		}
		key := r.Tool
		series[key] = append(series[key], plotter.XY{X: xv, Y: r.Wall})
	}
	names := make([]string, 0, len(series))
	for k := range series {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, k := range names {
		pts := series[k]
		sort.Slice(pts, func(a, b int) bool { return pts[a].X < pts[b].X })
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			continue
		}
		c := plotutil.Color(i)
		l.Color, s.Color = c, c
		l.Width = vg.Points(1.5)
		if strings.HasPrefix(k, "dsecore") {
			l.Width = vg.Points(3)
		}
		l.Dashes = plotutil.Dashes(i % 3)
		s.Shape = plotutil.Shape(i)
		p.Add(l, s)
		p.Legend.Add(k, l, s)
	}
	p.BackgroundColor = color.White
	// Room above the lines for the legend.
	maxY := 0.0
	for _, pts := range series {
		for _, q := range pts {
			maxY = max(maxY, q.Y)
		}
	}
	if maxY > 0 {
		p.Y.Max = maxY * 12
	}
	if len(names) == 0 {
		p.Title.Text += ": not measured (benchmarks/run.py without --quick)"
		p.Y.Scale, p.Y.Tick.Marker = plot.LinearScale{}, plot.DefaultTicks{}
	}
	return p
}

// secondsTicks labels a log axis at 1, 2 and 5 times each power of ten.
type secondsTicks struct{}

func (secondsTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for d := 1e-3; d <= hi*10; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			v := d * m
			if v < lo || v > hi {
				continue
			}
			ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
		}
	}
	return ts
}
