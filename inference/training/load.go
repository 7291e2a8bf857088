package training

import (
	"encoding/json"
	"fmt"

	"github.com/kommerce/kommerce/inference/onnx"
	"github.com/kommerce/kommerce/inference/onnx/onnxpb"
)

// ReadRecs rebuilds a RecsModel from the initializers and metadata of an exported
// recommendation graph, so that the plain-Go forward pass (Scores) can be checked
// against any runtime on the very file that runtime serves.
func ReadRecs(b []byte) (*RecsModel, error) {
	m, err := onnx.Decode(b)
	if err != nil {
		return nil, err
	}
	g := m.GetGraph()
	table, tdims, err := floatInit(g, "context_table")
	if err != nil {
		return nil, err
	}
	qt, qdims, err := floatInit(g, "item_factors_t")
	if err != nil {
		return nil, err
	}
	if len(tdims) != 2 || len(qdims) != 2 || tdims[1] != qdims[0] || tdims[0] != qdims[1]+1 {
		return nil, fmt.Errorf("recommendation graph has tables %v and %v", tdims, qdims)
	}
	ni, d := int(qdims[1]), int(qdims[0])
	rm := &RecsModel{D: d, P: table[:ni*d], Q: make([]float32, ni*d)}
	for i := range ni {
		for c := range d {
			rm.Q[i*d+c] = qt[c*ni+i]
		}
	}
	if err := json.Unmarshal([]byte(onnx.Metadata(m)[MetaItems]), &rm.Items); err != nil || len(rm.Items) != ni {
		return nil, fmt.Errorf("metadata %s does not list %d products", MetaItems, ni)
	}
	return rm, nil
}

// ReadFraud rebuilds a FraudModel from an exported fraud graph.
func ReadFraud(b []byte) (*FraudModel, error) {
	m, err := onnx.Decode(b)
	if err != nil {
		return nil, err
	}
	g := m.GetGraph()
	fm := &FraudModel{}
	for name, dst := range map[string]*[]float64{"mean": &fm.Mean, "scale": &fm.Scale, "weights": &fm.W} {
		v, _, err := floatInit(g, name)
		if err != nil {
			return nil, err
		}
		*dst = f64(v)
	}
	bias, _, err := floatInit(g, "bias")
	if err != nil || len(bias) != 1 {
		return nil, fmt.Errorf("fraud graph has no one-element bias")
	}
	fm.Bias = float64(bias[0])
	if len(fm.Mean) != len(fm.W) || len(fm.Scale) != len(fm.W) {
		return nil, fmt.Errorf("fraud graph has %d means, %d scales, %d weights", len(fm.Mean), len(fm.Scale), len(fm.W))
	}
	return fm, nil
}

func floatInit(g *onnxpb.GraphProto, name string) ([]float32, []int64, error) {
	t := onnx.Initializer(g, name)
	if t == nil {
		return nil, nil, fmt.Errorf("graph has no initializer %q", name)
	}
	v, err := onnx.Floats(t)
	return v, t.GetDims(), err
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
