package discovery_test

import (
	"reflect"
	"testing"

	"github.com/kommerce/kommerce/apiserver/discovery"
	"github.com/kommerce/kommerce/inference/recs"
	"github.com/kommerce/kommerce/internal/sfsettings"
)

func TestModelExperiment(t *testing.T) {
	popularity := recs.Experiment{Name: "recs", Arms: []recs.Arm{{Name: "popularity", Weight: 100}}}
	arm := func(mv string, pct int32, baseline, shadow bool) sfsettings.Arm {
		return sfsettings.Arm{ModelVersion: mv, ModelName: "recs-mf", URL: "http://" + mv + ".shop.svc:8081", Percent: pct, Baseline: baseline, Shadow: shadow}
	}
	tests := []struct {
		name   string
		models []sfsettings.Model
		want   recs.Experiment
	}{
		{"no binding", nil, popularity},
		{"only a fraud model", []sfsettings.Model{{Purpose: "Fraud", Model: "f", Arms: []sfsettings.Arm{arm("f1", 100, true, false)}}}, popularity},
		{"a binding with no serving version yet", []sfsettings.Model{{Purpose: "Recommendations", Model: "recs-mf", Arms: []sfsettings.Arm{arm("v1", 0, false, false)}}}, popularity},
		{"one version", []sfsettings.Model{{Purpose: "Recommendations", Model: "recs-mf", Experiment: "e1", Arms: []sfsettings.Arm{arm("v1", 100, true, false)}}},
			recs.Experiment{Name: "e1", Arms: []recs.Arm{{Name: "v1", Model: "recs-mf", URL: "http://v1.shop.svc:8081", Weight: 100, Baseline: true}}}},
		{"an A/B test with a shadow and a drained arm", []sfsettings.Model{{Purpose: "Recommendations", Model: "recs-mf", Experiment: "e2", Arms: []sfsettings.Arm{
			arm("v1", 70, true, false), arm("v2", 30, false, false), arm("v3", 20, false, true), arm("v0", 0, false, false)}}},
			recs.Experiment{Name: "e2", Arms: []recs.Arm{
				{Name: "v1", Model: "recs-mf", URL: "http://v1.shop.svc:8081", Weight: 70, Baseline: true},
				{Name: "v2", Model: "recs-mf", URL: "http://v2.shop.svc:8081", Weight: 30},
				{Name: "v3", Model: "recs-mf", URL: "http://v3.shop.svc:8081", Shadow: true, ShadowPercent: 20}}}},
		{"no experiment id", []sfsettings.Model{{Purpose: "Recommendations", Model: "recs-mf", Arms: []sfsettings.Arm{arm("v1", 100, false, false)}}},
			recs.Experiment{Name: "recs-recs-mf", Arms: []recs.Arm{{Name: "v1", Model: "recs-mf", URL: "http://v1.shop.svc:8081", Weight: 100}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := discovery.ModelExperiment(tt.models)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
