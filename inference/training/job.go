package training

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/features"
	"github.com/kommerce/kommerce/inference/onnx"
	"github.com/kommerce/kommerce/inference/onnx/onnxpb"
)

// Purposes of the training jobs.
const (
	PurposeRecommendations = "recommendations"
	PurposeFraud           = "fraud"
)

// Job is one training run.
type Job struct {
	Purpose string
	Source  Source
	// OutDir receives the files; created if missing.
	OutDir string
	// Name and Version of the model (defaults recs-als / fraud-logreg, and the
	// current UTC time as yyyymmddhhmmss).
	Name, Version string
	// Namespace of the ModelVersion manifest (default "default").
	Namespace string
	// ArtifactBase is the URI prefix the manifest gives the ONNX file, e.g.
	// https://models.example.com/acme; empty means a file:// URI of the written file.
	ArtifactBase string
	// HoldOut is the share of the data window kept for evaluation (default 0.2).
	HoldOut float64
	// ReviewBudget is the share of orders a fraud team reviews (default 0.02).
	ReviewBudget float64
	Recs         RecsParams
	// Producer is the kommerce version written into the ONNX file.
	Producer string
	// Now stamps the model card (default time.Now).
	Now func() time.Time
}

// Result lists what a job wrote and what it measured.
type Result struct {
	Name, Version string
	ONNX          string // path of the ONNX file
	SHA256        string
	Card          string // path of the model card
	Manifest      string // path of the ModelVersion manifest
	Popularity    string // path of the popularity ranking (recommendations only)
	Metrics       map[string]any
}

var versionRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,62})?$`)

// Run loads the data, trains, evaluates against the baselines on a time-based
// hold-out, and writes the ONNX file, the model card and the manifest.
func (j Job) Run(ctx context.Context) (*Result, error) {
	if j.Now == nil {
		j.Now = time.Now
	}
	if j.Version == "" {
		j.Version = j.Now().UTC().Format("20060102150405")
	}
	if !versionRE.MatchString(j.Version) {
		return nil, fmt.Errorf("version %q: use letters, digits, '.', '_' or '-'", j.Version)
	}
	if j.HoldOut <= 0 || j.HoldOut >= 1 {
		j.HoldOut = 0.2
	}
	if j.ReviewBudget <= 0 || j.ReviewBudget >= 1 {
		j.ReviewBudget = 0.02
	}
	if j.Namespace == "" {
		j.Namespace = "default"
	}
	ds, err := j.Source.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("load training data: %w", err)
	}
	if err := os.MkdirAll(j.OutDir, 0o755); err != nil { //nolint:gosec // published artefacts, readable by the publishing tools
		return nil, err
	}
	switch j.Purpose {
	case PurposeRecommendations:
		if j.Name == "" {
			j.Name = "recs-als"
		}
		return j.runRecs(ds)
	case PurposeFraud:
		if j.Name == "" {
			j.Name = "fraud-logreg"
		}
		return j.runFraud(ds)
	default:
		return nil, fmt.Errorf("unknown purpose %q: accepted values are %s, %s", j.Purpose, PurposeRecommendations, PurposeFraud)
	}
}

func (j Job) runRecs(ds *Dataset) (*Result, error) {
	if len(ds.Interactions) == 0 {
		return nil, fmt.Errorf("the data has no behaviour or purchase events (%s)", ds.Description)
	}
	train, test, cutoff := SplitByTime(ds.Interactions, ds.From, ds.To, 1-j.HoldOut)
	p := j.Recs.withDefaults()
	m, err := TrainALS(train, p)
	if err != nil {
		return nil, err
	}
	model := EvaluateRanking(m, train, test, p.Context, m.Scores)
	pop := EvaluateRanking(m, train, test, p.Context, m.PopularityScorer())
	b, err := ExportRecs(m, p.TopK, j.Version, j.Producer)
	if err != nil {
		return nil, err
	}
	res, err := j.writeModel(b)
	if err != nil {
		return nil, err
	}
	// The popularity ranking is the fallback the API serves without the model.
	type ranked struct {
		ID    string  `json:"id"`
		Score float64 `json:"score"`
	}
	order := make([]int, len(m.Items))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return m.Popular[order[a]] > m.Popular[order[b]] })
	rankedItems := make([]ranked, len(order))
	for r, i := range order {
		rankedItems[r] = ranked{m.Items[i], m.Popular[i]}
	}
	res.Popularity = filepath.Join(j.OutDir, j.Name+"-"+j.Version+".popularity.json")
	if err := writeJSON(res.Popularity, rankedItems); err != nil {
		return nil, err
	}
	res.Metrics = map[string]any{"model": model, "popularity": pop}
	card := cardData{
		Job: j, Result: res, Dataset: ds, Cutoff: cutoff, TrainRows: len(train), TestRows: len(test),
		Method: fmt.Sprintf("Implicit-feedback ALS (Hu, Koren, Volinsky 2008): %d factors, %d sweeps, λ=%g, confidence 1+%g·weight with weights view=click=1, add_to_cart=3, purchase=5. "+
			"A context of products is folded into a user vector by least squares (P = Q(QᵀQ+λI)⁻¹), so the model serves any shopper, signed in or not.",
			p.Factors, p.Iterations, p.Lambda, p.Alpha),
		Evaluation: fmt.Sprintf("Time-based hold-out: trained on events before %s, evaluated on the %d shoppers who, after it, interacted with products new to them. "+
			"Context = their %d most recent training products; products they had seen are excluded from the top 10.", cutoff.Format(time.RFC3339), model.Users, p.Context),
		MetricRows: [][]string{
			{"HR@10", f3(model.HR10), f3(pop.HR10)},
			{"NDCG@10", f3(model.NDCG10), f3(pop.NDCG10)},
		},
		Baseline: "popularity (weighted event count in the training window)",
		Inputs:   []string{fmt.Sprintf("`%s` INT64 [batch, context]: product indices of the context, -1 pads; index i is product `%s[i]` of the metadata", features.RecsInput, features.MetaItems)},
		Outputs: []string{
			fmt.Sprintf("`%s` FP32 [batch, %d]: scores, best first", features.RecsOutputScores, min(p.TopK, len(m.Items))),
			fmt.Sprintf("`%s` INT64 [batch, %d]: product indices of those scores", features.RecsOutputItems, min(p.TopK, len(m.Items))),
		},
		Extra: fmt.Sprintf("%d products in the vocabulary. Context products are not removed by the graph: callers drop them from the answer.", len(m.Items)),
	}
	return res, j.writeCardAndManifest(card)
}

func (j Job) runFraud(ds *Dataset) (*Result, error) {
	if len(ds.Orders) == 0 {
		return nil, fmt.Errorf("the data has no orders (%s)", ds.Description)
	}
	x, y := FraudMatrix(ds.Orders, ds.Fraud)
	cut := int(float64(len(x)) * (1 - j.HoldOut))
	m, err := TrainLogistic(x[:cut], y[:cut], 1e-3)
	if err != nil {
		return nil, err
	}
	test, labels := x[cut:], y[cut:]
	scores := make([]float64, len(test))
	amount := make([]float64, len(test))
	for i, row := range test {
		scores[i] = score64(m, row)
		amount[i] = row[0]
	}
	model := EvaluateScores(scores, labels, j.ReviewBudget)
	rule := EvaluateScores(amount, labels, j.ReviewBudget)
	b, err := ExportFraud(m, j.Version, j.Producer)
	if err != nil {
		return nil, err
	}
	res, err := j.writeModel(b)
	if err != nil {
		return nil, err
	}
	res.Metrics = map[string]any{"model": model, "amount_rule": rule}
	sorted := append([]features.Order(nil), ds.Orders...)
	sort.SliceStable(sorted, func(a, b int) bool { return sorted[a].At.Before(sorted[b].At) })
	var inputs []string
	for i, f := range features.FraudFeatures {
		inputs = append(inputs, fmt.Sprintf("column %d `%s`: %s (weight %.3f on the standardised value)", i, f.Name, f.Description, m.W[i]))
	}
	card := cardData{
		Job: j, Result: res, Dataset: ds, Cutoff: sorted[cut].At, TrainRows: cut, TestRows: len(test),
		Method: "Logistic regression with L2 penalty 1e-3, fitted by Newton's method on standardised features. " +
			"Labels: orders later disputed as fraudulent or refunded for fraud.",
		Evaluation: fmt.Sprintf("Time-based hold-out: the last %d orders (from %s), %d of them labelled fraud. Review budget %.1f%% of orders.",
			len(test), sorted[cut].At.Format(time.RFC3339), model.Fraud, 100*j.ReviewBudget),
		MetricRows: [][]string{
			{"AUC", f3(model.AUC), f3(rule.AUC)},
			{fmt.Sprintf("precision at %.1f%% review budget", 100*j.ReviewBudget), f3(model.PrecisionBudget), f3(rule.PrecisionBudget)},
			{fmt.Sprintf("recall at %.1f%% review budget", 100*j.ReviewBudget), f3(model.RecallBudget), f3(rule.RecallBudget)},
		},
		Baseline: "rule: rank orders by amount",
		Inputs:   append([]string{fmt.Sprintf("`%s` FP32 [batch, %d], columns:", features.FraudInput, len(features.FraudFeatures))}, inputs...),
		Outputs:  []string{fmt.Sprintf("`%s` FP32 [batch, 1]: probability of fraud", features.FraudOutput)},
	}
	return res, j.writeCardAndManifest(card)
}

// writeModel writes the ONNX file and checks it reads back with a signature.
func (j Job) writeModel(b []byte) (*Result, error) {
	m, err := onnx.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("exported model does not decode: %w", err)
	}
	if _, err := inference.SignatureOf(m); err != nil {
		return nil, fmt.Errorf("exported model has no servable signature: %w", err)
	}
	path := filepath.Join(j.OutDir, j.Name+"-"+j.Version+".onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil { //nolint:gosec // published artefacts, readable by the publishing tools
		return nil, err
	}
	sum := sha256.Sum256(b)
	return &Result{Name: j.Name, Version: j.Version, ONNX: path, SHA256: hex.EncodeToString(sum[:])}, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644) //nolint:gosec // published artefacts, readable by the publishing tools
}

func f3(v float64) string { return fmt.Sprintf("%.3f", v) }

// signatureOf re-reads the signature of a written model for the manifest.
func signatureOf(path string) (inference.Signature, *onnxpb.ModelProto, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return inference.Signature{}, nil, err
	}
	m, err := onnx.Decode(b)
	if err != nil {
		return inference.Signature{}, nil, err
	}
	sig, err := inference.SignatureOf(m)
	return sig, m, err
}
