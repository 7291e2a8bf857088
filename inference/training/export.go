package training

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/kommerce/kommerce/inference"
	"github.com/kommerce/kommerce/inference/features"
	"github.com/kommerce/kommerce/inference/onnx"
)

// ExportRecs writes the recommendation graph: context item indices [batch, n]
// (-1 pads) → Gather(P) → ReduceSum over the context → MatMul(Qᵀ) → TopK(k) →
// scores [batch, k] and item_indices [batch, k]. The product ids of the indices are
// in the features.MetaItems metadata.
func ExportRecs(m *RecsModel, k int, version string, producer string) ([]byte, error) {
	ni, d := len(m.Items), m.D
	k = min(k, ni)
	table := make([]float32, (ni+1)*d) // last row: zeros, what index -1 gathers
	copy(table, m.P)
	qt := make([]float32, d*ni)
	for i := range ni {
		for c := range d {
			qt[c*ni+i] = m.Q[i*d+c]
		}
	}
	items, err := json.Marshal(m.Items)
	if err != nil {
		return nil, err
	}
	g := &onnx.Graph{Name: "kommerce_recs_als", Doc: "ALS recommendations: top-k products for a context of products.",
		Metadata: map[string]string{
			features.MetaPurpose: features.PurposeRecommendations, features.MetaItems: string(items), features.MetaVersion: version,
			inference.MetaInputRange + features.RecsInput + ".range": fmt.Sprintf("-1:%d", ni-1),
		}}
	batch, ctx := onnx.Dim{Param: "batch"}, onnx.Dim{Param: "context"}
	g.Input(features.RecsInput, onnx.Int64, batch, ctx)
	g.Output(features.RecsOutputScores, onnx.Float, batch, onnx.Dim{Value: int64(k)})
	g.Output(features.RecsOutputItems, onnx.Int64, batch, onnx.Dim{Value: int64(k)})
	g.FloatTensor("context_table", table, int64(ni+1), int64(d))
	g.FloatTensor("item_factors_t", qt, int64(d), int64(ni))
	g.Int64Tensor("context_axis", []int64{1}, 1)
	g.Int64Tensor("k", []int64{int64(k)}, 1)
	g.Node("Gather", []string{"context_table", features.RecsInput}, []string{"context_vectors"}, onnx.IntAttr("axis", 0))
	g.Node("ReduceSum", []string{"context_vectors", "context_axis"}, []string{"user_vector"}, onnx.IntAttr("keepdims", 0))
	g.Node("MatMul", []string{"user_vector", "item_factors_t"}, []string{"all_scores"})
	g.Node("TopK", []string{"all_scores", "k"}, []string{features.RecsOutputScores, features.RecsOutputItems},
		onnx.IntAttr("axis", -1), onnx.IntAttr("largest", 1), onnx.IntAttr("sorted", 1))
	return g.Marshal(producer, modelVersion(version))
}

// ExportFraud writes the fraud graph: features [batch, F] → Sub(mean) → Div(scale)
// → Gemm(W, bias) → Sigmoid → fraud_probability [batch, 1].
func ExportFraud(m *features.FraudModel, version string, producer string) ([]byte, error) {
	f := len(m.W)
	names := make([]string, f)
	for i := range f {
		names[i] = features.FraudFeatures[i].Name
	}
	feat, err := json.Marshal(names)
	if err != nil {
		return nil, err
	}
	g := &onnx.Graph{Name: "kommerce_fraud_logreg", Doc: "Logistic regression: probability that an order is fraudulent.",
		Metadata: map[string]string{features.MetaPurpose: features.PurposeFraud, features.MetaFeatures: string(feat), features.MetaVersion: version}}
	batch := onnx.Dim{Param: "batch"}
	g.Input(features.FraudInput, onnx.Float, batch, onnx.Dim{Value: int64(f)})
	g.Output(features.FraudOutput, onnx.Float, batch, onnx.Dim{Value: 1})
	g.FloatTensor(features.FraudMean, f32(m.Mean), int64(f))
	g.FloatTensor(features.FraudScale, f32(m.Scale), int64(f))
	g.FloatTensor(features.FraudWeights, f32(m.W), int64(f), 1)
	g.FloatTensor(features.FraudBias, []float32{float32(m.Bias)}, 1)
	g.Node("Sub", []string{features.FraudInput, features.FraudMean}, []string{"centred"})
	g.Node("Div", []string{"centred", features.FraudScale}, []string{"standardised"})
	g.Node("Gemm", []string{"standardised", features.FraudWeights, features.FraudBias}, []string{"logit"})
	g.Node("Sigmoid", []string{"logit"}, []string{features.FraudOutput})
	return g.Marshal(producer, modelVersion(version))
}

func f32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// modelVersion puts a numeric version into the ONNX model_version field (0 when the
// version is not a number).
func modelVersion(v string) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0
	}
	return n
}
