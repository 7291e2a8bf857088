package experiment

import "time"

// Snapshot is both arms' cumulative aggregates at one time.
type Snapshot struct {
	At                  time.Time
	Baseline, Candidate Aggregate
}

// BandPoint is the cumulative lift of a metric at one time with its always-valid
// interval.
type BandPoint struct {
	At time.Time
	// Samples is the smaller arm's unit count.
	Samples                                int64
	LiftPercent, IntervalLow, IntervalHigh float64
}

// Band is the cumulative lift of one business metric over time, for the report page.
type Band struct {
	Metric Metric
	// Points in the order of the snapshots; snapshots where the lift is not defined
	// yet (no event in an arm) are left out.
	Points []BandPoint
}

// Series computes, for every business criterion, the lift and its interval at each
// snapshot, with the same test Judge uses. The intervals are those of each look (not
// intersected with the earlier ones), so the band may widen when the variance
// estimate grows; every one of them is valid at its time.
func Series(c Criteria, snaps []Snapshot) []Band {
	c = c.withDefaults()
	bands := make([]Band, 0, len(c.Business))
	for _, cr := range c.Business {
		b := Band{Metric: cr.Metric}
		for _, s := range snaps {
			r, ok := interval(c, cr, s.Baseline, s.Candidate)
			if !ok {
				continue
			}
			b.Points = append(b.Points, BandPoint{At: s.At, Samples: r.Samples,
				LiftPercent: r.LiftPercent, IntervalLow: r.IntervalLow, IntervalHigh: r.IntervalHigh})
		}
		bands = append(bands, b)
	}
	return bands
}
