package report

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"slices"
)

var (
	white  = color.RGBA{255, 255, 255, 255}
	black  = color.RGBA{0, 0, 0, 255}
	grid   = color.RGBA{225, 225, 225, 255}
	grey   = color.RGBA{90, 90, 90, 255}
	colors = map[string]color.RGBA{
		"prefect-azure": {214, 96, 0, 255},
		"aciworker":     {31, 100, 180, 255},
	}
	fallbackColors = []color.RGBA{{40, 150, 60, 255}, {150, 40, 150, 255}}
)

// panel is one chart: a value per row, plotted per worker against N.
type panel struct {
	title string
	value func(Row) float64
}

var panels = []panel{
	{"peak RSS (MB)", func(r Row) float64 { return float64(r.PeakRSSBytes) / (1 << 20) }},
	{"ARM reads (total)", func(r Row) float64 { return float64(r.ARMReads) }},
}

const (
	panelW, panelH = 520, 400
	marginL        = 80
	marginR        = 20
	marginT        = 50
	marginB        = 80
	legendH        = 40
)

// WritePNG draws peak memory and ARM reads against N, one line per worker.
// N values are spaced evenly (they are usually a geometric series), each
// labelled with the engine used for it.
func WritePNG(w io.Writer, rows []Row) error {
	if len(rows) == 0 {
		return fmt.Errorf("report: no rows to plot")
	}
	img := image.NewRGBA(image.Rect(0, 0, panelW*len(panels), panelH+legendH))
	draw.Draw(img, img.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)

	ns, engines := xAxis(rows)
	workers := workerOrder(rows)
	for i, p := range panels {
		drawPanel(img, i*panelW, p, rows, ns, engines, workers)
	}
	// Legend along the bottom.
	x := marginL
	y := panelH + 10
	for i, wk := range workers {
		c := workerColor(wk, i)
		fill(img, image.Rect(x, y+4, x+30, y+10), c)
		drawText(img, x+38, y, wk, 2, black)
		x += 38 + textWidth(wk, 2) + 40
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("report: encode PNG: %w", err)
	}
	return nil
}

func xAxis(rows []Row) ([]int, map[int]string) {
	engines := map[int]string{}
	var ns []int
	for _, r := range rows {
		if e, ok := engines[r.N]; !ok {
			ns = append(ns, r.N)
			engines[r.N] = r.Engine
		} else if e != r.Engine {
			engines[r.N] = "mixed"
		}
	}
	slices.Sort(ns)
	return ns, engines
}

func workerOrder(rows []Row) []string {
	var ws []string
	for _, r := range rows {
		if !slices.Contains(ws, r.Worker) {
			ws = append(ws, r.Worker)
		}
	}
	return ws
}

func workerColor(w string, i int) color.RGBA {
	if c, ok := colors[w]; ok {
		return c
	}
	return fallbackColors[i%len(fallbackColors)]
}

func drawPanel(img *image.RGBA, x0 int, p panel, rows []Row, ns []int, engines map[int]string, workers []string) {
	left, right := x0+marginL, x0+panelW-marginR
	top, bottom := marginT, panelH-marginB
	drawText(img, left+(right-left-textWidth(p.title, 2))/2, 15, p.title, 2, black)

	maxV := 0.0
	for _, r := range rows {
		maxV = max(maxV, p.value(r))
	}
	yMax, step := niceScale(maxV)
	ypix := func(v float64) int { return bottom - int(math.Round(v/yMax*float64(bottom-top))) }
	for v := 0.0; v <= yMax+step/2; v += step {
		y := ypix(v)
		line(img, left, y, right, y, grid, 1)
		lbl := formatTick(v)
		drawText(img, left-8-textWidth(lbl, 1), y-3, lbl, 1, grey)
	}
	xpix := func(i int) int {
		if len(ns) == 1 {
			return (left + right) / 2
		}
		pad := 30
		return left + pad + i*(right-left-2*pad)/(len(ns)-1)
	}
	for i, n := range ns {
		x := xpix(i)
		line(img, x, bottom, x, bottom+5, black, 1)
		lbl := fmt.Sprint(n)
		drawText(img, x-textWidth(lbl, 2)/2, bottom+10, lbl, 2, black)
		eng := engines[n]
		drawText(img, x-textWidth(eng, 1)/2, bottom+30, eng, 1, grey)
	}
	axisLbl := "N (flow runs)"
	drawText(img, left+(right-left-textWidth(axisLbl, 1))/2, bottom+50, axisLbl, 1, grey)
	line(img, left, top, left, bottom, black, 1)
	line(img, left, bottom, right, bottom, black, 1)

	for wi, wk := range workers {
		c := workerColor(wk, wi)
		px, py := -1, -1
		for i, n := range ns {
			idx := slices.IndexFunc(rows, func(r Row) bool { return r.Worker == wk && r.N == n })
			if idx < 0 {
				px = -1
				continue
			}
			x, y := xpix(i), ypix(p.value(rows[idx]))
			if px >= 0 {
				line(img, px, py, x, y, c, 2)
			}
			fill(img, image.Rect(x-4, y-4, x+5, y+5), c)
			px, py = x, y
		}
	}
}

// niceScale returns an axis maximum at or above v and a tick step, both on
// the 1-2-5 series, with four to ten ticks.
func niceScale(v float64) (yMax, step float64) {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1, 0.25
	}
	raw := v / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		step = m * mag
		if step >= raw {
			break
		}
	}
	return math.Ceil(v/step) * step, step
}

func formatTick(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

// line draws a straight line of the given thickness (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.Color, thick int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		for t := range thick {
			img.Set(x0+t/2, y0+(t+1)/2, c)
			img.Set(x0, y0+t, c)
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
