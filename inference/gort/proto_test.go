package gort_test

import (
	"google.golang.org/protobuf/proto"

	"github.com/kommerce/kommerce/inference/onnx/onnxpb"
)

func protoMarshal(m *onnxpb.ModelProto) ([]byte, error) { return proto.Marshal(m) }
