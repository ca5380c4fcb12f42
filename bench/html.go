//go:build linux

package bench

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

// Named is a result with the name of what was measured (server or URL).
type Named[T any] struct {
	Name   string `json:"name"`
	Case   string `json:"case,omitempty"`
	Result T      `json:"result"`
}

// Report is what the HTML report shows: the comparison table, if any, and
// charts of the results.
type Report struct {
	Title     string
	Table     []Row
	Servers   []string
	Ref       string
	Summary   string
	Idle      []Named[IdleResult]
	Echo      []Named[EchoResult]
	Broadcast []Named[BroadcastResult]
}

// Report gathers a comparison into a Report (the last successful run of
// each case and server is charted).
func (res *CompareResult) Report() *Report {
	rep := &Report{Title: "wsbench compare", Table: res.Table(), Servers: res.Servers, Ref: res.Ref,
		Summary: fmt.Sprintf("%d interleaved round(s), %.0f s; cells are medians, ratios are value / %s.", res.Rounds, res.Seconds, res.Ref)}
	for _, c := range res.Cases {
		for _, s := range res.Servers {
			runs := res.Runs[c.Name][s]
			for i := len(runs) - 1; i >= 0; i-- {
				r := runs[i]
				if r.Error != "" {
					continue
				}
				switch {
				case r.Idle != nil:
					rep.Idle = append(rep.Idle, Named[IdleResult]{Name: s, Case: c.Name, Result: *r.Idle})
				case r.Echo != nil:
					rep.Echo = append(rep.Echo, Named[EchoResult]{Name: s, Case: c.Name, Result: *r.Echo})
				case r.Broadcast != nil:
					rep.Broadcast = append(rep.Broadcast, Named[BroadcastResult]{Name: s, Case: c.Name, Result: *r.Broadcast})
				}
				break
			}
		}
	}
	return rep
}

var palette = []string{"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"}

// series is one line of a chart.
type series struct {
	Name   string
	Points []Point
}

const chartW, chartH, padL, padB, padT, padR = 640.0, 300.0, 70.0, 40.0, 20.0, 130.0

// lineChart draws series as an SVG line chart; xLabels, when set, names x
// positions 0..n-1 (categorical axis); logY plots y on a log10 scale.
func lineChart(title, xName, yName string, ss []series, xLabels []string, logY bool) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%.0f" height="%.0f" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">`, chartW, chartH)
	fmt.Fprintf(&b, `<text x="%.0f" y="14" font-size="13" font-weight="bold">%s</text>`, padL, template.HTMLEscapeString(title))
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	ty := func(y float64) float64 {
		if logY {
			return math.Log10(math.Max(y, 1e-3))
		}
		return y
	}
	for _, s := range ss {
		for _, p := range s.Points {
			minX, maxX = math.Min(minX, p.X), math.Max(maxX, p.X)
			minY, maxY = math.Min(minY, ty(p.Y)), math.Max(maxY, ty(p.Y))
		}
	}
	if math.IsInf(minX, 0) {
		b.WriteString(`<text x="80" y="80">no data</text></svg>`)
		return template.HTML(b.String())
	}
	if !logY {
		minY = 0
	}
	if maxX == minX {
		maxX = minX + 1
	}
	if maxY == minY {
		maxY = minY + 1
	}
	pw, ph := chartW-padL-padR, chartH-padT-padB
	px := func(x float64) float64 { return padL + (x-minX)/(maxX-minX)*pw }
	py := func(y float64) float64 { return padT + ph - (ty(y)-minY)/(maxY-minY)*ph }
	fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`, padL, padT, pw, ph)
	for i := 0; i <= 4; i++ { // y grid
		v := minY + (maxY-minY)*float64(i)/4
		label := v
		if logY {
			label = math.Pow(10, v)
		}
		y := padT + ph - float64(i)/4*ph
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%.0f" y="%.1f" text-anchor="end">%s</text>`,
			padL, padL+pw, y, y, padL-4, y+4, short(label))
	}
	if xLabels != nil {
		for i, l := range xLabels {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`, px(float64(i)), padT+ph+14, template.HTMLEscapeString(l))
		}
	} else {
		for i := 0; i <= 4; i++ {
			v := minX + (maxX-minX)*float64(i)/4
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`, px(v), padT+ph+14, short(v))
		}
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">%s</text>`, padL+pw/2, chartH-6, template.HTMLEscapeString(xName))
	fmt.Fprintf(&b, `<text x="12" y="%.0f" transform="rotate(-90 12 %.0f)" text-anchor="middle">%s</text>`, padT+ph/2, padT+ph/2, template.HTMLEscapeString(yName))
	for i, s := range ss {
		col := palette[i%len(palette)]
		var pts []string
		for _, p := range s.Points {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(p.X), py(p.Y)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, col, strings.Join(pts, " "))
		ly := padT + 14*float64(i+1)
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="10" height="10" fill="%s"/><text x="%.0f" y="%.0f">%s</text>`,
			padL+pw+10, ly-9, col, padL+pw+24, ly, template.HTMLEscapeString(s.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// barChart draws groups (e.g. echo cases) of bars (one per server).
func barChart(title, yName string, groups []string, names []string, val func(g, n int) (float64, bool)) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%.0f" height="%.0f" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">`, chartW, chartH)
	fmt.Fprintf(&b, `<text x="%.0f" y="14" font-size="13" font-weight="bold">%s</text>`, padL, template.HTMLEscapeString(title))
	maxY := 0.0
	for g := range groups {
		for n := range names {
			if v, ok := val(g, n); ok {
				maxY = math.Max(maxY, v)
			}
		}
	}
	if maxY == 0 || len(groups) == 0 {
		b.WriteString(`<text x="80" y="80">no data</text></svg>`)
		return template.HTML(b.String())
	}
	pw, ph := chartW-padL-padR, chartH-padT-padB
	fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`, padL, padT, pw, ph)
	for i := 0; i <= 4; i++ {
		y := padT + ph - float64(i)/4*ph
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%.0f" y="%.1f" text-anchor="end">%s</text>`,
			padL, padL+pw, y, y, padL-4, y+4, short(maxY*float64(i)/4))
	}
	gw := pw / float64(len(groups))
	bw := gw * 0.8 / float64(len(names))
	for g, gn := range groups {
		for n := range names {
			v, ok := val(g, n)
			if !ok {
				continue
			}
			h := v / maxY * ph
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`,
				padL+gw*float64(g)+gw*0.1+bw*float64(n), padT+ph-h, bw, h, palette[n%len(palette)],
				template.HTMLEscapeString(names[n]), template.HTMLEscapeString(gn), short(v))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`, padL+gw*(float64(g)+0.5), padT+ph+14, template.HTMLEscapeString(gn))
	}
	fmt.Fprintf(&b, `<text x="12" y="%.0f" transform="rotate(-90 12 %.0f)" text-anchor="middle">%s</text>`, padT+ph/2, padT+ph/2, template.HTMLEscapeString(yName))
	for n, name := range names {
		ly := padT + 14*float64(n+1)
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="10" height="10" fill="%s"/><text x="%.0f" y="%.0f">%s</text>`,
			padL+pw+10, ly-9, palette[n%len(palette)], padL+pw+24, ly, template.HTMLEscapeString(name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func short(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case a >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	}
	return fmt.Sprintf("%.3g", v)
}

// charts builds the report's SVG charts.
func (rep *Report) charts() []template.HTML {
	var out []template.HTML
	if len(rep.Idle) > 0 {
		var ss []series
		for _, n := range rep.Idle {
			s := series{Name: n.Name}
			for _, p := range n.Result.RSSCurve {
				s.Points = append(s.Points, Point{X: p.X, Y: p.Y / (1 << 20)})
			}
			ss = append(ss, s)
		}
		out = append(out, lineChart("Server RSS vs connections ("+rep.Idle[0].Case+")", "connections", "RSS MiB", ss, nil, false))
	}
	// Echo: one latency chart per case, one msgs/s bar chart over cases.
	var cases, names []string
	vals := map[[2]string]float64{}
	byCase := map[string][]series{}
	for _, n := range rep.Echo {
		c := n.Case
		if c == "" {
			c = fmt.Sprintf("echo %dx%dB", n.Result.Conns, n.Result.Size)
		}
		if !contains(cases, c) {
			cases = append(cases, c)
		}
		if !contains(names, n.Name) {
			names = append(names, n.Name)
		}
		vals[[2]string{c, n.Name}] = n.Result.MsgsPerSec
		s := series{Name: n.Name}
		for i, p := range n.Result.Latency.Curve {
			s.Points = append(s.Points, Point{X: float64(i), Y: p.Y})
		}
		byCase[c] = append(byCase[c], s)
	}
	var xl []string
	for _, p := range curvePercentiles {
		xl = append(xl, fmt.Sprintf("p%g", p))
	}
	for _, c := range cases {
		out = append(out, lineChart("Echo latency distribution: "+c, "percentile", "µs (log)", byCase[c], xl, true))
	}
	if len(cases) > 0 {
		out = append(out, barChart("Echo msgs/s per server", "msgs/s", cases, names, func(g, n int) (float64, bool) {
			v, ok := vals[[2]string{cases[g], names[n]}]
			return v, ok
		}))
	}
	for _, n := range rep.Broadcast {
		s := series{Name: n.Name}
		for i, p := range n.Result.Latency.Curve {
			s.Points = append(s.Points, Point{X: float64(i), Y: p.Y})
		}
		title := "Broadcast delivery latency"
		if n.Case != "" {
			title += ": " + n.Case
		}
		out = append(out, lineChart(title, "percentile", "µs (log)", []series{s}, xl, true))
	}
	return out
}

var reportTmpl = template.Must(template.New("r").Funcs(template.FuncMap{
	"val": func(r Row, s string) string {
		v, ok := r.Values[s]
		if !ok {
			return "-"
		}
		return FormatValue(v, r.Unit)
	},
	"ratio": func(r Row, s, ref string) string {
		q, ok := r.Ratios[s]
		if !ok || s == ref {
			return ""
		}
		return fmt.Sprintf("%.2fx", q)
	},
}).Parse(`<!doctype html><html><head><meta charset="utf-8"><title>{{.R.Title}}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td.l,th.l{text-align:left}small{color:#666}</style>
</head><body><h1>{{.R.Title}}</h1>
{{if .R.Table}}<p>{{.R.Summary}}</p><table><tr><th class="l">case</th><th class="l">metric</th>{{range .R.Servers}}<th>{{.}}</th>{{end}}</tr>
{{range $row := .R.Table}}<tr><td class="l">{{$row.Case}}</td><td class="l">{{$row.Metric}} <small>{{if $row.Lower}}lower{{else}}higher{{end}} better</small></td>{{range $.R.Servers}}<td>{{val $row .}} <small>{{ratio $row . $.R.Ref}}</small></td>{{end}}</tr>
{{end}}</table>{{end}}
{{range .Charts}}<div>{{.}}</div>{{end}}
</body></html>
`))

// WriteHTML writes the report as one self-contained HTML page (inline SVG,
// no scripts or external resources).
func (rep *Report) WriteHTML(w io.Writer) error {
	return reportTmpl.Execute(w, struct {
		R      *Report
		Charts []template.HTML
	}{rep, rep.charts()})
}
