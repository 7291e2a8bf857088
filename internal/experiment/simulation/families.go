package simulation

import (
	"fmt"
	"io"
	"time"

	"github.com/kommerce/kommerce/internal/experiment"
)

// Family is a baseline and the candidates planted against it: the same arm (A/A), a
// +5 % relative lift and a −10 % drop of the judged metric, all run at the sample
// size SampleSize states for the +5 % lift at 80 % power.
type Family struct {
	Name   string
	Metric experiment.Metric
	// Baseline arm; Lift and Drop are the planted candidates.
	Baseline, Lift, Drop Arm
	// LiftPercent and DropPercent are the planted relative changes of the metric.
	LiftPercent, DropPercent float64
	// RevenueCap of the simulated consumer.
	RevenueCap int64
	// PlanLike names another family whose planned sample size this one reuses (to
	// show what an uncapped test does at the capped test's size).
	PlanLike *Family
}

const (
	// Power targeted by the stated sample size.
	Power = 0.8
	// baseConversion is the baseline conversion rate of every family.
	baseConversion = 0.05
	pilotVisitors  = 4_000_000
)

// Families are the simulated designs: conversion at a 5 % baseline; revenue per
// visitor with a lognormal and with an infinite-variance Pareto basket, capped;
// click-through with visitors who differ in their click rate; and, for contrast, the
// Pareto basket uncapped.
func Families() []Family {
	conv := func(rate float64, b Basket) Arm { return Arm{Conversion: rate, SecondOrder: 0.1, Basket: b} }
	logn := Basket{Kind: "lognormal", Median: 5000, Sigma: 1}
	pareto := Basket{Kind: "pareto", Xm: 2000, Alpha: 1.5}
	fam := func(name string, m experiment.Metric, b Basket, cap int64) Family {
		return Family{Name: name, Metric: m, RevenueCap: cap,
			Baseline: conv(baseConversion, b), Lift: conv(baseConversion*1.05, b), Drop: conv(baseConversion*0.9, b),
			LiftPercent: 5, DropPercent: -10}
	}
	capped := fam("RevenuePerVisitor, Pareto(α=1.5) basket, capped at 40000", experiment.RevenuePerVisitor, pareto, 40000)
	uncapped := fam("RevenuePerVisitor, Pareto(α=1.5) basket, NOT capped (contrast)", experiment.RevenuePerVisitor, pareto, 0)
	uncapped.PlanLike = &capped
	browse := func(ctr float64) Arm {
		return Arm{Conversion: baseConversion, Basket: logn, Impressions: 5, CTR: ctr}
	}
	ctr := Family{Name: "ClickThroughRate, 4% of 5 impressions per visitor, visitors differ", Metric: experiment.ClickThroughRate,
		Baseline: browse(0.04), Lift: browse(0.04 * 1.05), Drop: browse(0.04 * 0.9), LiftPercent: 5, DropPercent: -10}
	return []Family{
		fam("ConversionRate, baseline 5%", experiment.ConversionRate, logn, 0),
		fam("RevenuePerVisitor, lognormal(median 5000, σ=1) basket, capped at 50000", experiment.RevenuePerVisitor, logn, 50000),
		capped,
		uncapped,
		ctr,
	}
}

// CV2 returns the per-unit squared coefficients of variation of the baseline and the
// lifted candidate: exact for a conversion rate, from a seeded pilot of 4 million
// visitors for revenue (standing in for the baseline's past traffic).
func (f Family) CV2(seed uint64) (base, lift float64) {
	if f.Metric == experiment.ConversionRate {
		return experiment.ConversionCV2(f.Baseline.Conversion), experiment.ConversionCV2(f.Lift.Conversion)
	}
	n := int64(pilotVisitors)
	if f.Baseline.Impressions > 0 {
		n /= 4 // visitor by visitor: slower to simulate, and less variable
	}
	return UnitCV2(f.Metric, f.Baseline, f.RevenueCap, n, seed), UnitCV2(f.Metric, f.Lift, f.RevenueCap, n, seed+1)
}

// Plan returns the per-arm sample size the method states for the +5 % lift at 80 %
// power and 95 % confidence, and the fixed-horizon test's for comparison.
func (f Family) Plan(seed uint64) (always, fixed int64) {
	if f.PlanLike != nil {
		return f.PlanLike.Plan(seed)
	}
	b, l := f.CV2(seed)
	p := experiment.Plan{BaselineCV2: b, CandidateCV2: l, LiftPercent: f.LiftPercent, Power: Power}
	return experiment.SampleSize(p), experiment.FixedSampleSize(p)
}

// Scenarios returns the A/A, lift and drop scenarios of the family at perArm visitors.
func (f Family) Scenarios(perArm, batch int64, runs int, seed uint64) (aa, lift, drop Scenario) {
	c := experiment.Criteria{Business: []experiment.Criterion{{Metric: f.Metric}}}
	mk := func(name string, cand Arm, s uint64) Scenario {
		return Scenario{Name: name, Baseline: f.Baseline, Candidate: cand, Criteria: c,
			RevenueCap: f.RevenueCap, PerArm: perArm, Batch: batch, Runs: runs, Seed: s}
	}
	return mk("A/A", f.Baseline, seed), mk(fmt.Sprintf("%+g%%", f.LiftPercent), f.Lift, seed+1000),
		mk(fmt.Sprintf("%+g%%", f.DropPercent), f.Drop, seed+2000)
}

// Report is a family's measured figures.
type Report struct {
	PerArm, Fixed  int64
	AA, Lift, Drop Summary
	Elapsed        time.Duration
}

// Measure plans and runs the family's three scenarios.
func (f Family) Measure(runs int, batch int64, seed uint64) Report {
	began := time.Now()
	var rep Report
	rep.PerArm, rep.Fixed = f.Plan(seed)
	aa, lift, drop := f.Scenarios(rep.PerArm, batch, runs, seed)
	rep.AA, rep.Lift, rep.Drop = Run(aa), Run(lift), Run(drop)
	rep.Elapsed = time.Since(began)
	return rep
}

// Print writes the report as the docs show it.
func (r Report) Print(w io.Writer, f Family) {
	fmt.Fprintf(w, "== %s\n", f.Name)
	fmt.Fprintf(w, "   stated sample size for +%g%% at %.0f%% power: %d visitors per arm (fixed-horizon z-test: %d, ×%.2f)\n",
		f.LiftPercent, 100*Power, r.PerArm, r.Fixed, float64(r.PerArm)/float64(r.Fixed))
	lo, hi := Wilson(r.AA.Decided(), r.AA.Runs, 0.95)
	fmt.Fprintf(w, "   A/A:  false positives %d/%d = %.2f%% (95%% Wilson %.2f–%.2f%%): %d promoted, %d rolled back\n",
		r.AA.Decided(), r.AA.Runs, pct(r.AA.Decided(), r.AA.Runs), 100*lo, 100*hi, r.AA.Promoted, r.AA.RolledBack)
	lo, hi = Wilson(r.Lift.Promoted, r.Lift.Runs, 0.95)
	fmt.Fprintf(w, "   %+g%%:  promoted %d/%d = %.2f%% (95%% Wilson %.2f–%.2f%%), rolled back %d, mean stop %.0f per arm\n",
		f.LiftPercent, r.Lift.Promoted, r.Lift.Runs, pct(r.Lift.Promoted, r.Lift.Runs), 100*lo, 100*hi, r.Lift.RolledBack, r.Lift.MeanStopPerArm)
	lo, hi = Wilson(r.Drop.RolledBack, r.Drop.Runs, 0.95)
	fmt.Fprintf(w, "   %+g%%: rolled back %d/%d = %.2f%% (95%% Wilson %.2f–%.2f%%), promoted %d, mean stop %.0f per arm\n",
		f.DropPercent, r.Drop.RolledBack, r.Drop.Runs, pct(r.Drop.RolledBack, r.Drop.Runs), 100*lo, 100*hi, r.Drop.Promoted, r.Drop.MeanStopPerArm)
	fmt.Fprintf(w, "   (%s)\n\n", r.Elapsed.Round(100*time.Millisecond))
}

func pct(k, n int) float64 { return 100 * float64(k) / float64(n) }
