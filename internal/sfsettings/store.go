package sfsettings

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Store is the document an API pod serves its storefront from: loaded at start
// (an invalid document stops the start), then re-read when the mounted file
// changes. A document that does not parse, or names another tenant or storefront
// than the one loaded at start, is logged and counted and the previous one stays:
// a pod serves one storefront for its whole life.
type Store struct {
	file       *File[Document]
	log        *slog.Logger
	tenant     string
	storefront string
	generation prometheus.Gauge
	reloads    *prometheus.CounterVec
}

// Open loads the document at path and registers the metrics
// kommerce_storefront_settings_generation and
// kommerce_storefront_settings_reloads_total{result="ok|invalid"} on reg (none when
// nil).
func Open(path string, log *slog.Logger, reg prometheus.Registerer) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{log: log,
		generation: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kommerce_storefront_settings_generation",
			Help: "Storefront metadata.generation of the settings document the pod serves."}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kommerce_storefront_settings_reloads_total",
			Help: "Changes of the storefront settings file, by result: ok (now served) or invalid (refused, the previous settings stay)."},
			[]string{"result"}),
	}
	f, err := OpenFile(path, s.parse)
	if err != nil {
		return nil, err
	}
	s.file = f
	d := f.Current()
	s.generation.Set(float64(d.Generation))
	s.reloads.WithLabelValues("ok")
	s.reloads.WithLabelValues("invalid")
	if reg != nil {
		for _, c := range []prometheus.Collector{s.generation, s.reloads} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("storefront settings metrics: %w", err)
			}
		}
	}
	log.Info("storefront settings loaded", "path", path, "tenant", d.Tenant, "storefront", d.Storefront, "generation", d.Generation)
	return s, nil
}

// parse is Parse, refusing a document of another storefront than the first one.
func (s *Store) parse(data []byte) (*Document, error) {
	d, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if s.storefront == "" {
		s.tenant, s.storefront = d.Tenant, d.Storefront
		return d, nil
	}
	if d.Tenant != s.tenant || d.Storefront != s.storefront {
		return nil, fmt.Errorf("the document is for %s/%s, this pod serves %s/%s; a pod serves one storefront for its life",
			d.Tenant, d.Storefront, s.tenant, s.storefront)
	}
	return d, nil
}

// Current returns the document in force; never nil after Open.
func (s *Store) Current() *Document { return s.file.Current() }

// Tenant is the slug of the tenant the pod serves (it never changes).
func (s *Store) Tenant() string { return s.tenant }

// Storefront is the name of the storefront the pod serves (it never changes).
func (s *Store) Storefront() string { return s.storefront }

// Models returns the model bindings in force, for the recommendation, ranking and
// fraud clients; nothing reads them yet.
func (s *Store) Models() []Model { return s.Current().Models }

// Check is a readiness check: it fails until a valid document is loaded.
func (s *Store) Check(context.Context) error {
	if s == nil || s.file == nil || s.file.Current() == nil {
		return errors.New("no valid storefront settings loaded")
	}
	return nil
}

// Poll checks the file once, logging and counting the outcome when it changed.
func (s *Store) Poll() {
	changed, err := s.file.Reload()
	if !changed {
		return
	}
	cur := s.Current()
	if err != nil {
		s.reloads.WithLabelValues("invalid").Inc()
		s.log.Error("storefront settings not reloaded; the previous ones stay", "path", s.file.Path(),
			"generation", cur.Generation, "error", err.Error())
		return
	}
	s.reloads.WithLabelValues("ok").Inc()
	s.generation.Set(float64(cur.Generation))
	resolved, _ := filepath.EvalSymlinks(s.file.Path())
	s.log.Info("storefront settings reloaded", "path", s.file.Path(), "resolved", resolved,
		"storefront", cur.Storefront, "generation", cur.Generation)
}

// Watch polls the file every interval (PollInterval when 0) until ctx ends.
func (s *Store) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = PollInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Poll()
		}
	}
}
