package kafka

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the consumer metrics: throughput by outcome, lag, batch latency.
type Metrics struct {
	messages *prometheus.CounterVec
	lag      *prometheus.GaugeVec
	batch    *prometheus.HistogramVec
	commits  *prometheus.CounterVec
}

// NewMetrics registers the consumer metrics on reg (nil: not exported).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommerce_ingest_messages_total",
			Help: "Messages consumed, by consumer and outcome (processed, retried, dead_lettered).",
		}, []string{"consumer", "outcome"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kommerce_ingest_consumer_lag",
			Help: "Messages behind the end of the topic as of the last fetch, by consumer and topic.",
		}, []string{"consumer", "topic"}),
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kommerce_ingest_batch_duration_seconds",
			Help:    "Time from fetching a batch to committing it, by consumer.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"consumer"}),
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommerce_ingest_commit_errors_total",
			Help: "Offset commits that failed (the messages will be delivered again), by consumer.",
		}, []string{"consumer"}),
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.lag, m.batch, m.commits)
	}
	return m
}
