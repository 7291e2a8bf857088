// Package postgres is the PostgreSQL store of the experiment analysis
// (ingest/experiments): the facts, once each under their event or order id, the
// per-unit attributions and the per-arm hourly sums, on pgx with sqlc-generated
// queries (expdb). Every transaction works in one tenant's scope, so row-level
// security keeps tenants apart.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommerce/kommerce/ingest"
	"github.com/kommerce/kommerce/ingest/experiments"
	"github.com/kommerce/kommerce/ingest/experiments/postgres/expdb"
)

// Store implements experiments.Store and reads the aggregates.
type Store struct {
	pool *pgxpool.Pool
	cfg  experiments.Config
}

var _ experiments.Store = (*Store)(nil)

// New returns a store on pool attributing with cfg.
func New(pool *pgxpool.Pool, cfg experiments.Config) *Store {
	return &Store{pool: pool, cfg: cfg}
}

// tx runs fn in one transaction in tenant scope, again when PostgreSQL broke a
// deadlock or a serialization conflict (two units of one order recomputed by two
// replicas); a failure to reach the database is ingest.Unavailable.
func (s *Store) tx(ctx context.Context, tenantID string, fn func(q *expdb.Queries) error) error {
	var err error
	for range 5 {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			q := expdb.New(tx)
			if err := q.TenantScope(ctx, tenantID); err != nil {
				return err
			}
			return fn(q)
		})
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001") {
			continue
		}
		break
	}
	return classify(err)
}

func classify(err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("experiments store: %w", err)
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe):
		switch pe.Code[:2] {
		case "22", "23": // data exception, constraint violation: a property of the event
			return ingest.Permanent(err)
		case "08", "53", "57": // connection, resources, shutdown
			return ingest.Unavailable(err)
		}
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	default: // no answer from the server
		return ingest.Unavailable(err)
	}
}

// Record implements experiments.Store: every fact is inserted under its unique key
// first; then the units newly concerned are locked in key order (so transactions
// never wait on each other in a cycle) and each is recomputed once in every
// experiment it was exposed in; last, the sums move, one statement per experiment in
// name order.
func (s *Store) Record(ctx context.Context, tenantID string, facts []experiments.Fact) error {
	return s.tx(ctx, tenantID, func(q *expdb.Queries) error {
		deltas := map[string]*delta{}
		at := func(experiment string) *delta {
			if deltas[experiment] == nil {
				deltas[experiment] = &delta{}
			}
			return deltas[experiment]
		}
		touched := map[string]bool{}
		for _, f := range facts {
			units, err := insert(ctx, q, tenantID, f)
			if err != nil {
				return err
			}
			if e := f.Exposure; e != nil && len(units) > 0 {
				at(e.Experiment).add(e.Arm, experiments.Serving(e.ExposureFact), 1)
			}
			for _, u := range units {
				if u != experiments.AnonymousSubject {
					touched[u] = true
				}
			}
		}
		units := slices.Sorted(maps.Keys(touched))
		for _, u := range units {
			if err := q.LockUnit(ctx, expdb.LockUnitParams{TenantID: tenantID, UnitKey: u}); err != nil {
				return err
			}
		}
		for _, u := range units {
			exps, err := q.UnitExperiments(ctx, expdb.UnitExperimentsParams{TenantID: tenantID, UnitKey: u})
			if err != nil {
				return err
			}
			for _, e := range exps {
				if err := s.recompute(ctx, q, tenantID, u, e, at(e)); err != nil {
					return err
				}
			}
		}
		for _, e := range slices.Sorted(maps.Keys(deltas)) {
			if err := deltas[e].apply(ctx, q, tenantID, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// insert stores one fact and returns the units it newly concerns (none when it was
// stored before: its effects are done).
func insert(ctx context.Context, q *expdb.Queries, tenantID string, f experiments.Fact) ([]string, error) {
	switch {
	case f.Exposure != nil:
		e := f.Exposure
		var lat pgtype.Float8
		if e.LatencyMs != nil {
			lat = pgtype.Float8{Float64: *e.LatencyMs, Valid: true}
		}
		unit := e.UnitKey
		if unit == "" {
			unit = experiments.AnonymousSubject
		}
		n, err := q.InsertExposure(ctx, expdb.InsertExposureParams{
			TenantID: tenantID, EventID: e.EventID, Experiment: e.Experiment, Arm: e.Arm, UnitKey: unit,
			RequestID: e.RequestID, Model: e.Model, Version: e.Version, Items: e.Items, Error: e.Error,
			LatencyMs: lat, At: e.At,
		})
		if err != nil || n == 0 {
			return nil, err
		}
		return []string{unit}, nil
	case f.Outcome != nil:
		var fresh []string
		for _, u := range f.Units {
			n, err := q.InsertOutcome(ctx, expdb.InsertOutcomeParams{
				TenantID: tenantID, EventID: f.Outcome.EventID, UnitKey: u, Kind: f.Outcome.Kind,
				ProductID: f.Outcome.ProductID, RequestID: f.Outcome.RequestID, At: f.Outcome.At,
			})
			if err != nil {
				return nil, err
			}
			if n > 0 {
				fresh = append(fresh, u)
			}
		}
		return fresh, nil
	case f.Order != nil:
		o := f.Order
		n, err := q.InsertOrder(ctx, expdb.InsertOrderParams{TenantID: tenantID, OrderID: o.OrderID, Revenue: o.Revenue, Currency: f.Currency, At: o.At})
		if err != nil {
			return nil, err
		}
		for _, u := range f.Units {
			if _, err := q.LinkOrderUnit(ctx, expdb.LinkOrderUnitParams{TenantID: tenantID, OrderID: o.OrderID, UnitKey: u}); err != nil {
				return nil, err
			}
		}
		if n == 0 {
			return nil, nil
		}
		// Every unit linked so far, by a purchase event before the order arrived too.
		return q.OrderUnits(ctx, expdb.OrderUnitsParams{TenantID: tenantID, OrderID: o.OrderID})
	case f.LinkOrderID != "":
		var fresh []string
		for _, u := range f.Units {
			n, err := q.LinkOrderUnit(ctx, expdb.LinkOrderUnitParams{TenantID: tenantID, OrderID: f.LinkOrderID, UnitKey: u})
			if err != nil {
				return nil, err
			}
			if n > 0 {
				fresh = append(fresh, u)
			}
		}
		return fresh, nil
	}
	return nil, nil
}

// recompute attributes one unit in one experiment from all its stored facts and
// adds to d the difference to what it contributed before. The caller holds the
// unit's lock.
func (s *Store) recompute(ctx context.Context, q *expdb.Queries, tenantID, unit, experiment string, d *delta) error {
	p := s.cfg.Params(experiment)
	rows, err := q.UnitExposures(ctx, expdb.UnitExposuresParams{TenantID: tenantID, UnitKey: unit, Experiment: experiment})
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	exps := make([]experiments.ExposureFact, len(rows))
	for i, r := range rows {
		exps[i] = experiments.ExposureFact{EventID: r.EventID, Arm: r.Arm, RequestID: r.RequestID, Items: r.Items, Error: r.Error, At: r.At}
	}
	// rows are ordered by (at, event id): the first is the first exposure.
	since, until := rows[0].At, rows[0].At.Add(p.Window)
	orows, err := q.UnitOutcomes(ctx, expdb.UnitOutcomesParams{TenantID: tenantID, UnitKey: unit, Since: since, Until: until})
	if err != nil {
		return err
	}
	outs := make([]experiments.OutcomeFact, len(orows))
	for i, r := range orows {
		outs[i] = experiments.OutcomeFact{EventID: r.EventID, Kind: r.Kind, ProductID: r.ProductID, RequestID: r.RequestID, At: r.At}
	}
	ords, err := q.UnitOrders(ctx, expdb.UnitOrdersParams{TenantID: tenantID, UnitKey: unit, Since: since, Until: until})
	if err != nil {
		return err
	}
	orders := make([]experiments.OrderFact, len(ords))
	for i, r := range ords {
		orders[i] = experiments.OrderFact{OrderID: r.OrderID, Revenue: r.Revenue, At: r.At}
	}
	att, _ := experiments.Attribute(p, exps, outs, orders)

	old, err := q.GetUnit(ctx, expdb.GetUnitParams{TenantID: tenantID, Experiment: experiment, UnitKey: unit})
	if err != nil {
		return err
	}
	if len(old) == 1 {
		var before []experiments.Contribution
		if err := json.Unmarshal(old[0].Contributions, &before); err != nil {
			return fmt.Errorf("contributions of unit %s in %s: %w", unit, experiment, err)
		}
		d.add(old[0].Arm, before, -1)
	}
	d.add(att.Arm, att.Contributions, 1)
	contrib := att.Contributions
	if contrib == nil {
		contrib = []experiments.Contribution{}
	}
	b, err := json.Marshal(contrib)
	if err != nil {
		return err
	}
	return q.UpsertUnit(ctx, expdb.UpsertUnitParams{
		TenantID: tenantID, Experiment: experiment, UnitKey: unit, Arm: att.Arm,
		FirstEventID: att.FirstEventID, FirstExposedAt: att.FirstAt, Contributions: b,
	})
}

// delta is a set of signed additions to per-arm hourly sums.
type delta struct {
	arms, metrics, values []string
	hours                 []time.Time
}

// add adds (sign +1) or takes back (sign −1) contributions to an arm. Values go to
// the database as the shortest decimal that reads back as the float64, so the same
// value added and taken back cancels exactly in numeric.
func (d *delta) add(arm string, cs []experiments.Contribution, sign float64) {
	for _, c := range cs {
		d.arms = append(d.arms, arm)
		d.hours = append(d.hours, time.Unix(c.Hour, 0).UTC())
		d.metrics = append(d.metrics, c.Metric)
		d.values = append(d.values, strconv.FormatFloat(sign*c.Value, 'g', -1, 64))
	}
}

func (d *delta) apply(ctx context.Context, q *expdb.Queries, tenantID, experiment string) error {
	if len(d.arms) == 0 {
		return nil
	}
	if err := q.AddArmMetrics(ctx, expdb.AddArmMetricsParams{
		TenantID: tenantID, Experiment: experiment, Arms: d.arms, Hours: d.hours, Metrics: d.metrics, Values: d.values,
	}); err != nil {
		return err
	}
	return q.DeleteZeroArmMetrics(ctx, expdb.DeleteZeroArmMetricsParams{
		TenantID: tenantID, Experiment: experiment, Arms: d.arms, Hours: d.hours, Metrics: d.metrics,
	})
}

// Aggregates returns an experiment's per-arm aggregates, arms by name; an
// experiment nobody was exposed to has none. Errors are the database's.
func (s *Store) Aggregates(ctx context.Context, tenantID, experiment string) ([]experiments.ArmAggregate, error) {
	var rows []expdb.ArmTotalsRow
	err := s.read(ctx, tenantID, func(q *expdb.Queries) error {
		var err error
		rows, err = q.ArmTotals(ctx, expdb.ArmTotalsParams{TenantID: tenantID, Experiment: experiment})
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []experiments.ArmAggregate
	for _, r := range rows {
		if len(out) == 0 || out[len(out)-1].Arm != r.Arm {
			out = append(out, experiments.ArmAggregate{Arm: r.Arm})
		}
		out[len(out)-1].SetMetric(r.Metric, r.Value)
	}
	return out, nil
}

// Snapshots returns an experiment's cumulative per-arm aggregates at the end of
// every hour in which something changed, oldest first, for lift over time.
func (s *Store) Snapshots(ctx context.Context, tenantID, experiment string) ([]experiments.Snapshot, error) {
	var rows []expdb.ArmHourlyRow
	err := s.read(ctx, tenantID, func(q *expdb.Queries) error {
		var err error
		rows, err = q.ArmHourly(ctx, expdb.ArmHourlyParams{TenantID: tenantID, Experiment: experiment})
		return err
	})
	if err != nil {
		return nil, err
	}
	// Carry each arm's sums forward: an hour lists every arm seen so far.
	cur := map[string]map[string]float64{}
	var out []experiments.Snapshot
	for i := 0; i < len(rows); {
		hour := rows[i].Hour
		for ; i < len(rows) && rows[i].Hour.Equal(hour); i++ {
			r := rows[i]
			if cur[r.Arm] == nil {
				cur[r.Arm] = map[string]float64{}
			}
			cur[r.Arm][r.Metric] = r.Value
		}
		snap := experiments.Snapshot{Hour: hour.UTC()}
		arms := make([]string, 0, len(cur))
		for a := range cur {
			arms = append(arms, a)
		}
		slices.Sort(arms)
		for _, a := range arms {
			agg := experiments.ArmAggregate{Arm: a}
			for m, v := range cur[a] {
				agg.SetMetric(m, v)
			}
			snap.Arms = append(snap.Arms, agg)
		}
		out = append(out, snap)
	}
	return out, nil
}

func (s *Store) read(ctx context.Context, tenantID string, fn func(q *expdb.Queries) error) error {
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		q := expdb.New(tx)
		if err := q.TenantScope(ctx, tenantID); err != nil {
			return err
		}
		return fn(q)
	})
	if err != nil {
		return fmt.Errorf("read experiment aggregates: %w", err)
	}
	return nil
}
