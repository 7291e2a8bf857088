package analysis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/controllers/modelversion"
	"github.com/kommerce/kommerce/ingest/experiments"
	"github.com/kommerce/kommerce/internal/experiment"
	"github.com/kommerce/kommerce/internal/expreport"
)

// SnapshotReader reads an experiment's hourly cumulative aggregates (exppg.Store).
type SnapshotReader interface {
	Snapshots(ctx context.Context, tenantID, experiment string) ([]experiments.Snapshot, error)
}

// ReportHandler serves the experiment report of a ModelVersion — per-arm figures,
// the cumulative lift of each criterion with its always-valid band, the verdict —
// at GET /experiments/{namespace}/{modelversion}. The operator serves it on its
// report address, for data scientists to reach with kubectl port-forward.
type ReportHandler struct {
	Judge     *Judge
	Snapshots SnapshotReader
	Log       *slog.Logger
}

// ServeHTTP implements http.Handler.
func (h *ReportHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/experiments/"), "/"), "/")
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/experiments/") || len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		http.Error(w, "GET /experiments/<namespace>/<modelversion>", http.StatusNotFound)
		return
	}
	rep, err := h.Report(r.Context(), parts[0], parts[1])
	switch {
	case apierrors.IsNotFound(err):
		http.Error(w, fmt.Sprintf("no ModelVersion %s in namespace %s", parts[1], parts[0]), http.StatusNotFound)
		return
	case err != nil:
		if h.Log != nil {
			h.Log.Error("experiment report failed", "namespace", parts[0], "modelversion", parts[1], "error", err)
		}
		http.Error(w, "the experiment's figures cannot be read right now; see the operator's log", http.StatusServiceUnavailable)
		return
	}
	page, err := expreport.Render(rep)
	if err != nil {
		http.Error(w, "rendering failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	_, _ = w.Write(page)
}

// Report gathers what the page shows for one ModelVersion.
func (h *ReportHandler) Report(ctx context.Context, namespace, name string) (expreport.Report, error) {
	var mv kv1.ModelVersion
	if err := h.Judge.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &mv); err != nil {
		return expreport.Report{}, err
	}
	st := mv.Status
	rep := expreport.Report{Title: fmt.Sprintf("%s: %s", mv.Spec.Model, mv.Name), Experiment: modelversion.ExperimentOf(&mv), Model: mv.Spec.Model,
		Strategy: string(mv.Spec.Rollout.Strategy), Phase: string(st.Phase), Updated: h.Judge.now()}
	if st.StartedAt != nil {
		rep.Started = st.StartedAt.Time
	}
	t := trialOf(&mv)
	if t.Experiment == "" || t.Baseline == "" {
		rep.Verdict = fmt.Sprintf("No experiment has run for %s yet (phase %s).", mv.Name, orDash(string(st.Phase)))
		return rep, nil
	}
	rep.Title = fmt.Sprintf("%s: %s against %s", mv.Spec.Model, t.Candidate, t.Baseline)
	tenantID, err := h.Judge.lookup()(ctx, namespace)
	if err != nil {
		return rep, err
	}
	arms, err := h.Judge.Reader.Aggregates(ctx, tenantID, t.Experiment)
	if err != nil {
		return rep, err
	}
	snaps, err := h.Snapshots.Snapshots(ctx, tenantID, t.Experiment)
	if err != nil {
		return rep, err
	}
	var base, cand experiment.Aggregate
	for _, a := range arms {
		switch a.Arm {
		case t.Baseline:
			base = Convert(a)
		case t.Candidate:
			cand = Convert(a)
		default:
			continue
		}
		p99, _ := a.LatencyQuantileMs(0.99)
		if math.IsInf(p99, 0) {
			p99 = 0
		}
		rep.Arms = append(rep.Arms, expreport.Arm{Name: a.Arm, ModelVersion: a.Arm, Baseline: a.Arm == t.Baseline, Percent: percentOf(st.TrafficSplit, a.Arm),
			Units: a.Units, Conversions: a.ConvertedUnits, Orders: a.Orders, Revenue: a.Revenue, Errors: a.Errors,
			LatencyP99: time.Duration(p99 * float64(time.Millisecond))})
	}
	d := Decide(t, base, cand, h.Judge.now())
	rep.Verdict = verdictLine(d, st.Verdict)
	c := Criteria(t)
	var series []experiment.Snapshot
	for _, s := range snaps {
		x := experiment.Snapshot{At: s.Hour}
		for _, a := range s.Arms {
			switch a.Arm {
			case t.Baseline:
				x.Baseline = Convert(a)
			case t.Candidate:
				x.Candidate = Convert(a)
			}
		}
		series = append(series, x)
	}
	bands := map[experiment.Metric][]expreport.Point{}
	for _, b := range experiment.Series(c, series) {
		for _, p := range b.Points {
			bands[b.Metric] = append(bands[b.Metric], expreport.Point{At: p.At, LiftPercent: p.LiftPercent, Low: p.IntervalLow, High: p.IntervalHigh})
		}
	}
	for _, m := range d.Metrics {
		cr := expreport.Criterion{Metric: m.Name, ConfidencePercent: m.ConfidencePercent, Samples: m.Samples, Verdict: string(m.Verdict),
			LiftPercent: parse(m.LiftPercent), Low: parse(m.IntervalLow), High: parse(m.IntervalHigh), Series: bands[experiment.Metric(m.Name)]}
		for _, b := range c.Business {
			if string(b.Metric) == m.Name {
				cr.MinLiftPercent = b.MinLiftPercent
			}
		}
		if m.LiftPercent == "" && len(cr.Series) == 0 {
			continue // technical metrics have no lift to draw
		}
		rep.Criteria = append(rep.Criteria, cr)
	}
	return rep, nil
}

// trialOf is the rollout of mv as the judge sees it, from its stored status.
func trialOf(mv *kv1.ModelVersion) modelversion.Trial {
	t := modelversion.Trial{Namespace: mv.Namespace, Model: mv.Spec.Model, Purpose: mv.Spec.Purpose, Experiment: modelversion.ExperimentOf(mv),
		Candidate: mv.Name, Strategy: mv.Spec.Rollout.Strategy, Criteria: mv.Spec.Rollout.SuccessCriteria, RollbackOn: mv.Spec.Rollout.RollbackOn}
	if mv.Status.StartedAt != nil {
		t.StartedAt = mv.Status.StartedAt.Time
	}
	if ab := mv.Spec.Rollout.ABTest; ab != nil {
		t.Baseline = ab.Baseline
		return t
	}
	best := int32(-1)
	for _, s := range mv.Status.TrafficSplit {
		if s.ModelVersion != mv.Name && !s.Mirrored && s.Percent > best {
			t.Baseline, best = s.ModelVersion, s.Percent
		}
	}
	return t
}

func verdictLine(d modelversion.Decision, stored kv1.Verdict) string {
	switch d.Action {
	case modelversion.ActionPromote:
		return "Promote: " + d.Reason
	case modelversion.ActionRollback:
		return "Roll back: " + d.Reason
	}
	if d.Verdict == kv1.VerdictInconclusive {
		return "Inconclusive: " + d.Reason
	}
	if stored != "" && stored != kv1.VerdictPending {
		return fmt.Sprintf("Decided %s; now: %s", stored, d.Reason)
	}
	return "Running: " + d.Reason
}

func percentOf(split []kv1.TrafficShare, name string) int32 {
	for _, s := range split {
		if s.ModelVersion == name && !s.Mirrored {
			return s.Percent
		}
	}
	return 0
}

func parse(s string) float64 {
	var v float64
	if _, err := fmt.Sscan(s, &v); err != nil {
		return math.NaN()
	}
	return v
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func (j *Judge) now() time.Time {
	if j.Now != nil {
		return j.Now()
	}
	return time.Now()
}

func (j *Judge) lookup() func(context.Context, string) (string, error) {
	if j.TenantID != nil {
		return j.TenantID
	}
	if j.Client == nil {
		return func(context.Context, string) (string, error) { return "", errors.New("no tenant lookup") }
	}
	return j.tenantOf
}
