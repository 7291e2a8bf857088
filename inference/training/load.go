package training

import (
	"fmt"

	"github.com/kommerce/kommerce/inference/features"

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
	if rm.Items, err = features.Items(onnx.Metadata(m)); err != nil || len(rm.Items) != ni {
		return nil, fmt.Errorf("metadata %s does not list %d products", features.MetaItems, ni)
	}
	return rm, nil
}

func floatInit(g *onnxpb.GraphProto, name string) ([]float32, []int64, error) {
	t := onnx.Initializer(g, name)
	if t == nil {
		return nil, nil, fmt.Errorf("graph has no initializer %q", name)
	}
	v, err := onnx.Floats(t)
	return v, t.GetDims(), err
}
