// Package expreport renders the experiment report data scientists read: per-arm
// metrics, the cumulative lift of each criterion with its always-valid confidence
// band over time, and the verdict. The page is one self-contained HTML document —
// inline CSS and server-drawn SVG, no script and no external asset — so it renders
// the same in a browser, in a headless one in tests, and behind a strict CSP.
package expreport

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// Report is everything the page shows.
type Report struct {
	// Title names the experiment, e.g. "recs-mf: v2 against v1".
	Title string
	// Experiment is the experiment id; Model the model whose versions compete.
	Experiment, Model string
	// Strategy is the ModelVersion rollout strategy (ABTest, Canary, Shadow, Direct).
	Strategy string
	// Phase is the candidate ModelVersion's phase.
	Phase string
	// Verdict is the overall decision in words, e.g. "Promote: every criterion is Better".
	Verdict string
	// Started and Updated bound the data shown.
	Started, Updated time.Time
	// Arms are the per-arm figures, baseline first.
	Arms []Arm
	// Criteria are the judged metrics with their history.
	Criteria []Criterion
}

// Arm is one arm's raw figures.
type Arm struct {
	Name         string
	ModelVersion string
	Baseline     bool
	Percent      int32
	Units        int64
	Conversions  int64
	Orders       int64
	Revenue      int64 // minor units
	Currency     string
	Errors       int64
	LatencyP99   time.Duration
}

// Criterion is one judged metric: its current estimate and how it moved.
type Criterion struct {
	Metric string
	// LiftPercent and its always-valid interval at ConfidencePercent.
	LiftPercent, Low, High float64
	ConfidencePercent      int32
	MinLiftPercent         float64
	Samples                int64
	Verdict                string // Pending, Better, NoWorse, Worse, Inconclusive
	// Series is the cumulative lift after each batch of data, oldest first.
	Series []Point
}

// Point is the cumulative lift and its band at one time.
type Point struct {
	At                     time.Time
	LiftPercent, Low, High float64
}

//go:embed report.html.tmpl
var files embed.FS

var page = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"pct":   func(v float64) string { return fmt.Sprintf("%+.2f %%", v) },
	"ts":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"rate":  rate,
	"money": money,
	"chart": chart,
	"lower": strings.ToLower,
}).ParseFS(files, "report.html.tmpl"))

// Render writes the page.
func Render(r Report) ([]byte, error) {
	var b bytes.Buffer
	if err := page.Execute(&b, r); err != nil {
		return nil, fmt.Errorf("render experiment report: %w", err)
	}
	return b.Bytes(), nil
}

func rate(n, d int64) string {
	if d == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f %%", 100*float64(n)/float64(d))
}

func money(minor int64, currency string) string {
	return fmt.Sprintf("%.2f %s", float64(minor)/100, currency)
}

// chart draws the cumulative lift with its band as an SVG: the band as a filled
// polygon, the estimate as a line, zero and the minimum lift as reference lines.
// Values are clamped to a symmetric range around zero so one early, wide interval
// does not flatten the rest.
func chart(c Criterion) template.HTML {
	const w, h, pad = 640.0, 220.0, 36.0
	if len(c.Series) == 0 {
		return template.HTML(`<p class="empty">No data yet.</p>`) //nolint:gosec // constant
	}
	// The vertical range follows the estimate and the lower bound of the later
	// looks; early looks' (and upper bounds') extremes are clipped at the edge.
	span := 5.0
	for _, p := range c.Series[len(c.Series)/4:] {
		for _, v := range []float64{p.Low, p.LiftPercent, c.MinLiftPercent} {
			if !math.IsInf(v, 0) && !math.IsNaN(v) {
				span = math.Max(span, math.Abs(v))
			}
		}
	}
	span = math.Min(span*1.3, 1000)
	t0, t1 := c.Series[0].At, c.Series[len(c.Series)-1].At
	x := func(t time.Time) float64 {
		if !t1.After(t0) {
			return w - pad
		}
		return pad + (w-2*pad)*float64(t.Sub(t0))/float64(t1.Sub(t0))
	}
	y := func(v float64) float64 {
		v = math.Max(-span, math.Min(span, v))
		if math.IsNaN(v) {
			v = 0
		}
		return h/2 - (h/2-pad/2)*v/span
	}
	var band, line strings.Builder
	for _, p := range c.Series {
		fmt.Fprintf(&band, "%.1f,%.1f ", x(p.At), y(p.High))
	}
	for i := len(c.Series) - 1; i >= 0; i-- {
		p := c.Series[i]
		fmt.Fprintf(&band, "%.1f,%.1f ", x(p.At), y(p.Low))
	}
	for _, p := range c.Series {
		fmt.Fprintf(&line, "%.1f,%.1f ", x(p.At), y(p.LiftPercent))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" aria-label="cumulative lift of %s" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f">`,
		template.HTMLEscapeString(c.Metric), w, h, w, h)
	fmt.Fprintf(&b, `<polygon class="band" points="%s"/>`, strings.TrimSpace(band.String()))
	fmt.Fprintf(&b, `<line class="zero" x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f"/>`, pad, w-pad, y(0), y(0))
	if c.MinLiftPercent != 0 {
		fmt.Fprintf(&b, `<line class="minlift" x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f"/>`, pad, w-pad, y(c.MinLiftPercent), y(c.MinLiftPercent))
	}
	fmt.Fprintf(&b, `<polyline class="lift" points="%s"/>`, strings.TrimSpace(line.String()))
	fmt.Fprintf(&b, `<text x="2" y="%.1f">%+.0f%%</text><text x="2" y="%.1f">0</text><text x="2" y="%.1f">%+.0f%%</text>`,
		y(span)+10, span, y(0)+4, y(-span), -span)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">%s</text><text x="%.0f" y="%.0f" text-anchor="end">%s</text></svg>`,
		pad, h-2, t0.UTC().Format("01-02 15:04"), w-pad, h-2, t1.UTC().Format("01-02 15:04"))
	return template.HTML(b.String()) //nolint:gosec // built from numbers and an escaped name
}
