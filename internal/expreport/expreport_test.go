package expreport_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kommerce/kommerce/internal/expreport"
	"github.com/kommerce/kommerce/internal/testenv"
)

func sample() expreport.Report {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	var series []expreport.Point
	for i := range 24 {
		w := 30 / float64(i+1)
		series = append(series, expreport.Point{At: t0.Add(time.Duration(i) * time.Hour), LiftPercent: 6 + float64(i%3)/10, Low: 6 - w, High: 6 + w})
	}
	return expreport.Report{
		Title: "recs-mf: v2 <script>alert(1)</script> against v1", Experiment: "recs-mf-3f2a", Model: "recs-mf", Strategy: "ABTest",
		Phase: "Promoted", Verdict: "Promote: ConversionRate is Better (+6.2 %, 95 % interval +1.1 % to +11.4 %)",
		Started: t0, Updated: t0.Add(23 * time.Hour),
		Arms: []expreport.Arm{
			{Name: "baseline", ModelVersion: "recs-mf-v1", Baseline: true, Percent: 50, Units: 10210, Conversions: 512, Orders: 530, Revenue: 2612300, Currency: "EUR", Errors: 3, LatencyP99: 21 * time.Millisecond},
			{Name: "candidate", ModelVersion: "recs-mf-v2", Percent: 50, Units: 10188, Conversions: 544, Orders: 561, Revenue: 2790011, Currency: "EUR", Errors: 2, LatencyP99: 23 * time.Millisecond},
		},
		Criteria: []expreport.Criterion{
			{Metric: "ConversionRate", LiftPercent: 6.2, Low: 1.1, High: 11.4, ConfidencePercent: 95, MinLiftPercent: 1, Samples: 20398, Verdict: "Better", Series: series},
			{Metric: "RevenuePerVisitor", LiftPercent: 2.9, Low: -3.5, High: 9.8, ConfidencePercent: 95, Samples: 20398, Verdict: "NoWorse"},
		},
	}
}

func TestRenderIsSelfContainedAndEscaped(t *testing.T) {
	b, err := expreport.Render(sample())
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{`data-arm="baseline"`, `data-arm="candidate"`, "recs-mf-v2", "5.34 %", "27900.11 EUR", `class="v-better"`,
		`<polygon class="band"`, `<polyline class="lift"`, `class="minlift"`, "No data yet.", "always-valid 95 %"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Error("the title was not escaped")
	}
	for _, banned := range []string{"<script", "src=\"http", "href=\"http", "@import"} {
		if strings.Contains(page, banned) {
			t.Errorf("page is not self-contained: it has %q", banned)
		}
	}
}

// The page as a real browser renders it: the DOM Chromium builds holds the arms,
// the verdict and the lift chart, and a screenshot is kept for a person to look at.
func TestReportInChromium(t *testing.T) {
	chrome := testenv.NewChromium(t)
	b, err := expreport.Render(sample())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(b)
	}))
	defer srv.Close()
	dom := chrome.DOM(t, srv.URL)
	for _, want := range []string{`id="verdict"`, "Promote: ConversionRate is Better", `data-arm="candidate"`, "<polygon", "ConversionRate: cumulative lift"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %q:\n%.2000s", want, dom)
		}
	}
	t.Logf("screenshot of the experiment report: %s", chrome.Screenshot(t, srv.URL, 900, 1400))
}
