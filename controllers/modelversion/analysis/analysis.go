// Package analysis is the operator's modelversion.Judge: on every pass of a running
// rollout it reads the per-arm aggregates the ingest pipeline keeps for the
// experiment (ingest/experiments) and decides with the always-valid sequential tests
// of internal/experiment. It keeps no state of its own: the aggregates are
// cumulative and the tests stay valid however often they are looked at, so an
// operator restart or a second replica changes nothing.
package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/controllers/modelversion"
	"github.com/kommerce/kommerce/ingest/experiments"
	"github.com/kommerce/kommerce/internal/experiment"
)

// Reader reads an experiment's per-arm aggregates (exppg.Store).
type Reader interface {
	Aggregates(ctx context.Context, tenantID, experiment string) ([]experiments.ArmAggregate, error)
}

// Judge implements modelversion.Judge.
type Judge struct {
	Reader Reader
	// Client reads the namespace's tenant label and the Tenant's database id.
	Client client.Reader
	// TenantID, when set, replaces that lookup (namespace → tenant database id).
	TenantID func(ctx context.Context, namespace string) (string, error)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

var _ modelversion.Judge = (*Judge)(nil)

// Judge decides t from what shoppers did so far.
func (j *Judge) Judge(ctx context.Context, t modelversion.Trial) (modelversion.Decision, error) {
	tenantID, err := j.lookup()(ctx, t.Namespace)
	if err != nil {
		return modelversion.NoDecision, err
	}
	arms, err := j.Reader.Aggregates(ctx, tenantID, t.Experiment)
	if err != nil {
		return modelversion.NoDecision, fmt.Errorf("read the aggregates of experiment %s: %w", t.Experiment, err)
	}
	var base, cand experiment.Aggregate
	for _, a := range arms {
		switch a.Arm {
		case t.Baseline:
			base = Convert(a)
		case t.Candidate:
			cand = Convert(a)
		}
	}
	now := time.Now()
	if j.Now != nil {
		now = j.Now()
	}
	return Decide(t, base, cand, now), nil
}

// Decide is the pure part of Judge: the criteria of t applied to the two arms.
func Decide(t modelversion.Trial, base, cand experiment.Aggregate, now time.Time) modelversion.Decision {
	d := experiment.Judge(Criteria(t), base, cand, t.StartedAt, now)
	out := modelversion.Decision{Reason: d.Reason}
	allBetter := len(d.Metrics) > 0
	for _, r := range d.Metrics {
		out.Metrics = append(out.Metrics, measured(r))
		if r.Verdict != experiment.Better && isBusiness(r.Metric) {
			allBetter = false
		}
	}
	switch d.Outcome {
	case experiment.Promote:
		out.Action, out.Verdict = modelversion.ActionPromote, kv1.VerdictNoWorse
		if allBetter {
			out.Verdict = kv1.VerdictBetter
		}
	case experiment.Rollback:
		out.Action, out.Verdict = modelversion.ActionRollback, kv1.VerdictWorse
	case experiment.InconclusiveOutcome:
		out.Verdict = kv1.VerdictInconclusive
	default:
		out.Verdict = kv1.VerdictPending
	}
	return out
}

// Criteria copies a rollout's success criteria and rollback triggers.
func Criteria(t modelversion.Trial) experiment.Criteria {
	sc, rb := t.Criteria, t.RollbackOn
	c := experiment.Criteria{ConfidencePercent: float64(sc.ConfidencePercent), MinSamples: sc.MinSamples}
	for _, b := range sc.Business {
		c.Business = append(c.Business, experiment.Criterion{Metric: experiment.Metric(b.Metric), MinLiftPercent: float64(b.MinLiftPercent)})
	}
	if sc.MaxErrorRatePerMille != nil {
		v := float64(*sc.MaxErrorRatePerMille)
		c.MaxErrorRatePerMille = &v
	}
	if sc.MaxLatencyP99 != nil {
		c.MaxLatencyP99 = sc.MaxLatencyP99.Duration
	}
	if rb.ErrorRatePerMille != nil {
		c.Rollback.ErrorRatePerMille = float64(*rb.ErrorRatePerMille)
	}
	if rb.LatencyP99 != nil {
		c.Rollback.LatencyP99 = rb.LatencyP99.Duration
	}
	if rb.BusinessDropPercent != nil {
		c.Rollback.BusinessDropPercent = float64(*rb.BusinessDropPercent)
	}
	return c
}

// Convert maps the consumer's sums to the statistics' aggregate. The consumer's
// latency histogram has experiment.LatencyBounds as bounds (ingest/experiments
// takes them from there), so it is copied as is. Revenue is judged uncapped: the
// consumer's caps are per experiment name in its own configuration, which the
// operator does not share, so the capped sums are not used here.
func Convert(a experiments.ArmAggregate) experiment.Aggregate {
	out := experiment.Aggregate{
		Visitors: a.Units, Converters: a.ConvertedUnits, Orders: a.Orders, OrdersSq: a.OrdersSq,
		Revenue: a.Revenue, RevenueSq: a.RevenueSq, RevenueOrders: a.RevenueOrders,
		Impressions: a.Impressions, ImpressionsSq: a.ImpressionsSq,
		Clicks: a.Clicks, ClicksSq: a.ClicksSq, ClicksImpressions: a.ClicksImpressions,
		Requests: a.Requests, Errors: a.Errors,
	}
	if len(a.LatencyBuckets) == len(experiment.LatencyBounds)+1 {
		out.Latency = append([]int64(nil), a.LatencyBuckets...)
	}
	return out
}

func isBusiness(m experiment.Metric) bool {
	return m != experiment.ErrorRate && m != experiment.LatencyP99
}

// measured renders a result for status.metrics; numbers that were not computed
// (NaN: technical metrics have no lift) are left out.
func measured(r experiment.Result) kv1.MeasuredMetric {
	num := func(v float64, prec int) string {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return ""
		}
		return strconv.FormatFloat(v, 'f', prec, 64)
	}
	return kv1.MeasuredMetric{
		Name: string(r.Metric), Candidate: num(r.Candidate, 4), Baseline: num(r.Baseline, 4),
		LiftPercent: num(r.LiftPercent, 2), IntervalLow: num(r.IntervalLow, 2), IntervalHigh: num(r.IntervalHigh, 2),
		ConfidencePercent: int32(r.ConfidencePercent), Samples: r.Samples, Verdict: kv1.Verdict(r.Verdict),
	}
}

// tenantOf finds the database id of the tenant owning namespace.
func (j *Judge) tenantOf(ctx context.Context, namespace string) (string, error) {
	var ns corev1.Namespace
	if err := j.Client.Get(ctx, client.ObjectKey{Name: namespace}, &ns); err != nil {
		return "", fmt.Errorf("namespace %s: %w", namespace, err)
	}
	slug := ns.Labels[kv1.TenantLabel]
	if slug == "" {
		return "", fmt.Errorf("namespace %s belongs to no tenant (no %s label)", namespace, kv1.TenantLabel)
	}
	var t kv1.Tenant
	if err := j.Client.Get(ctx, client.ObjectKey{Name: slug}, &t); err != nil {
		return "", fmt.Errorf("tenant %s: %w", slug, err)
	}
	if t.Status.TenantID == "" {
		return "", errors.New("tenant " + slug + " has no database id yet")
	}
	return t.Status.TenantID, nil
}
