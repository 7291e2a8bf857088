package inference

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the model server's Prometheus series, labelled by model and version
// (never by request data).
type Metrics struct {
	latency     *prometheus.HistogramVec
	requests    *prometheus.CounterVec
	predictions *prometheus.SummaryVec
	ready       *prometheus.GaugeVec
	loadErrors  *prometheus.CounterVec
	batchRows   *prometheus.HistogramVec
	batchReqs   *prometheus.HistogramVec
	queue       *prometheus.HistogramVec
}

// NewMetrics registers the series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kommerce_inference_duration_seconds", Help: "Time to validate and run one inference request, by model and version.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"model", "version"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommerce_inference_requests_total", Help: "Inference requests, by model, version and result code (ok or an error code).",
		}, []string{"model", "version", "code"}),
		predictions: prometheus.NewSummaryVec(prometheus.SummaryOpts{
			Name: "kommerce_inference_prediction", Help: "Distribution of the first float output's values (up to 16 a request), for drift checks.",
			Objectives: map[float64]float64{0.05: 0.01, 0.25: 0.01, 0.5: 0.01, 0.75: 0.01, 0.95: 0.01},
		}, []string{"model", "version", "output"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kommerce_inference_model_ready", Help: "1 while a model version is loaded and served.",
		}, []string{"model", "version"}),
		loadErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kommerce_inference_model_load_errors_total", Help: "Model files refused at load (checksum, size, format, operators), by model and version.",
		}, []string{"model", "version"}),
		batchRows: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kommerce_inference_batch_rows", Help: "Rows (first-dimension entries) of each runtime call of a batching model, by model and version.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}, []string{"model", "version"}),
		batchReqs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kommerce_inference_batch_requests", Help: "Requests merged into each runtime call of a batching model, by model and version.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}, []string{"model", "version"}),
		queue: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kommerce_inference_batch_queue_seconds", Help: "Time a request of a batching model waited in the queue before its runtime call started, by model and version.",
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .1},
		}, []string{"model", "version"}),
	}
	reg.MustRegister(m.latency, m.requests, m.predictions, m.ready, m.loadErrors, m.batchRows, m.batchReqs, m.queue)
	return m
}

// maxPredictions bounds the values of one request observed in the prediction
// summary: each observation takes the summary's lock and a clock reading, and the
// first values of a request (its best scores, its first rows) are enough to see a
// drift.
const maxPredictions = 16

// versionMetrics are the series of one model version, resolved once at load: a
// label lookup hashes every label value, several times a request otherwise.
type versionMetrics struct {
	latency   prometheus.Observer
	ok        prometheus.Counter
	predName  string // the first FP32 output of the signature
	pred      prometheus.Observer
	batchRows prometheus.Observer
	batchReqs prometheus.Observer
	queue     prometheus.Observer
}

// version resolves the series of a model version (nil when m is nil).
func (m *Metrics) version(model, version string, sig Signature) *versionMetrics {
	if m == nil {
		return nil
	}
	vm := &versionMetrics{
		latency:   m.latency.WithLabelValues(model, version),
		ok:        m.requests.WithLabelValues(model, version, "ok"),
		batchRows: m.batchRows.WithLabelValues(model, version),
		batchReqs: m.batchReqs.WithLabelValues(model, version),
		queue:     m.queue.WithLabelValues(model, version),
	}
	for _, o := range sig.Outputs {
		if o.DataType == FP32 {
			vm.predName, vm.pred = o.Name, m.predictions.WithLabelValues(model, version, o.Name)
			break
		}
	}
	return vm
}

// observe records a request to a model version that could be looked up.
func (m *Metrics) observe(vm *versionMetrics, model, version string, seconds float64, code string, outputs []Tensor) {
	if m == nil {
		return
	}
	if code != "ok" {
		m.requests.WithLabelValues(model, version, code).Inc()
		return
	}
	vm.ok.Inc()
	vm.latency.Observe(seconds)
	for _, o := range outputs {
		if o.DataType != FP32 {
			continue
		}
		obs := vm.pred
		if o.Name != vm.predName {
			obs = m.predictions.WithLabelValues(model, version, o.Name)
		}
		for _, v := range o.Float32[:min(len(o.Float32), maxPredictions)] {
			obs.Observe(float64(v))
		}
		return
	}
}

// failed records a request that named no served model version.
func (m *Metrics) failed(model, version, code string) {
	if m != nil {
		m.requests.WithLabelValues(model, version, code).Inc()
	}
}

func (vm *versionMetrics) batch(rows int64, requests int) {
	if vm != nil {
		vm.batchRows.Observe(float64(rows))
		vm.batchReqs.Observe(float64(requests))
	}
}

func (vm *versionMetrics) queueWait(seconds float64) {
	if vm != nil {
		vm.queue.Observe(seconds)
	}
}

func (m *Metrics) loadFailed(model, version string) {
	if m != nil {
		m.loadErrors.WithLabelValues(model, version).Inc()
	}
}

// setReady moves the ready gauge from the old snapshot to the new one.
func (m *Metrics) setReady(old, next *snapshot) {
	if m == nil {
		return
	}
	for name, e := range old.models {
		for v := range e.versions {
			if next.find(name, v) == nil {
				m.ready.DeleteLabelValues(name, v)
			}
		}
	}
	for name, e := range next.models {
		for v := range e.versions {
			m.ready.WithLabelValues(name, v).Set(1)
		}
	}
}
