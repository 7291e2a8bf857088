package modelversion

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/inference"
)

func sampleMV() *kv1.ModelVersion {
	cpu, mem := resource.MustParse("500m"), resource.MustParse("512Mi")
	return &kv1.ModelVersion{
		ObjectMeta: metav1.ObjectMeta{Name: "recs-mf-v2", Namespace: "acme-shop"},
		Spec: kv1.ModelVersionSpec{
			Model: "recs-mf", Purpose: kv1.PurposeRecommendations, Replicas: 2,
			Resources: &kv1.ComputeResources{CPU: &cpu, Memory: &mem},
			Artifact: kv1.Artifact{
				URI: "https://models.acme.example/recs-mf/2/model.onnx", SHA256: strings.Repeat("9c", 32), Opset: 13,
				Inputs:  []kv1.TensorSpec{{Name: "items", DataType: "INT64", Shape: []int64{-1, -1}}},
				Outputs: []kv1.TensorSpec{{Name: "scores", DataType: "FP32", Shape: []int64{-1, 20}}},
			},
		},
	}
}

func TestModelVersionDesiredDeployment(t *testing.T) {
	d := desiredDeployment(sampleMV(), Settings{Image: "kommerce.local/kommerce:1.4.0"})
	if *d.Name != "recs-mf-v2-inference" || *d.Namespace != "acme-shop" || *d.Spec.Replicas != 2 {
		t.Fatalf("name %s/%s replicas %d", *d.Namespace, *d.Name, *d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		env[*e.Name] = *e.Value
	}
	want := map[string]string{
		"KOMMERCE_INFERENCE_MODEL_URI":     "https://models.acme.example/recs-mf/2/model.onnx",
		"KOMMERCE_INFERENCE_MODEL_SHA256":  strings.Repeat("9c", 32),
		"KOMMERCE_INFERENCE_MODEL_NAME":    "recs-mf",
		"KOMMERCE_INFERENCE_MODEL_VERSION": "recs-mf-v2",
		"KOMMERCE_TERMINATION_LOG":         "/dev/termination-log",
		"KOMMERCE_HTTP_ADDR":               ":8081",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q; want %q", k, env[k], v)
		}
	}
	// The tensors reach the server in the shape its --model-tensors flag decodes.
	var tensors struct{ Inputs, Outputs []inference.ExpectedTensor }
	if err := json.Unmarshal([]byte(env["KOMMERCE_INFERENCE_MODEL_TENSORS"]), &tensors); err != nil ||
		len(tensors.Inputs) != 1 || tensors.Inputs[0].Name != "items" || tensors.Outputs[0].Shape[1] != 20 || tensors.Outputs[0].DataType != "FP32" {
		t.Errorf("tensors %q decode to %+v (%v)", env["KOMMERCE_INFERENCE_MODEL_TENSORS"], tensors, err)
	}
	if *c.Image != "kommerce.local/kommerce:1.4.0" || c.Args[0] != "inference" || *c.ReadinessProbe.HTTPGet.Path != "/readyz" ||
		*c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError || *c.Name != ContainerName {
		t.Errorf("container %+v", c)
	}
	if q := (*c.Resources.Requests)[corev1.ResourceCPU]; q.String() != "500m" {
		t.Errorf("cpu request %s", q.String())
	}
	if !*pod.SecurityContext.RunAsNonRoot || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Error("the inference pod must run as non-root with a read-only root filesystem")
	}
	if d.Spec.Selector.MatchLabels[labelInstance] != "recs-mf-v2" || d.Spec.Template.Labels[LabelModel] != "recs-mf" {
		t.Errorf("selector %v labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
	s := desiredService(sampleMV())
	if *s.Name != *d.Name || s.Spec.Selector[labelInstance] != "recs-mf-v2" || *s.Spec.Ports[0].Port != Port {
		t.Errorf("service %+v", s)
	}
	if got := Endpoint(sampleMV()); got != "http://recs-mf-v2-inference.acme-shop.svc:8081" {
		t.Errorf("endpoint %s", got)
	}
}

func TestModelVersionInferenceName(t *testing.T) {
	long := strings.Repeat("a", 60)
	tests := []struct{ mv, want string }{
		{"recs-mf-v2", "recs-mf-v2-inference"},
		{"recs.v2", "mv-" + shortHash("recs.v2") + "-inference"},     // dots are not allowed in a Service name
		{"2024-recs", "mv-" + shortHash("2024-recs") + "-inference"}, // nor a leading digit
		{long, "mv-" + shortHash(long) + "-inference"},
	}
	for _, tt := range tests {
		if got := InferenceName(tt.mv); got != tt.want || len(got) > 63 {
			t.Errorf("InferenceName(%q) = %q; want %q", tt.mv, got, tt.want)
		}
	}
}

func TestModelVersionFetchable(t *testing.T) {
	for uri, ok := range map[string]bool{
		"https://m.example/a.onnx": true, "http://artifacts.kommerce-system.svc/a.onnx": true, "file:///models/a.onnx": true,
		"s3://bucket/a.onnx": false, "gs://bucket/a.onnx": false, "oci://registry/model:1": false,
	} {
		if err := fetchable(uri); (err == nil) != ok {
			t.Errorf("fetchable(%q) = %v; want ok=%v", uri, err, ok)
		}
	}
}

func TestModelVersionLoadFailure(t *testing.T) {
	status := func(cs corev1.ContainerStatus) corev1.Pod {
		cs.Name = ContainerName
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{cs}}}
	}
	deleting := status(corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: "old"}}})
	deleting.DeletionTimestamp = &metav1.Time{}
	tests := []struct {
		name string
		pods []corev1.Pod
		want string
	}{
		{"no pods", nil, ""},
		{"starting", []corev1.Pod{status(corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}})}, ""},
		{"running, not ready yet", []corev1.Pod{status(corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}})}, ""},
		{"crash loop with the server's reason", []corev1.Pod{status(corev1.ContainerStatus{
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: "model file has sha256 aa, the config says bb; refused\n"}},
		})}, "model file has sha256 aa, the config says bb; refused"},
		{"exit without a message", []corev1.Pod{status(corev1.ContainerStatus{
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}},
		})}, "the inference container exited with status 137 (OOMKilled)"},
		{"image not pullable", []corev1.Pod{status(corev1.ContainerStatus{
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "pull kommerce:9 failed"}},
		})}, "pod p: ImagePullBackOff: pull kommerce:9 failed"},
		{"a ready container's past crash is history", []corev1.Pod{status(corev1.ContainerStatus{Ready: true,
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: "old"}},
		})}, ""},
		{"a pod being deleted says nothing", []corev1.Pod{deleting}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadFailure(tt.pods); got != tt.want {
				t.Errorf("loadFailure = %q; want %q", got, tt.want)
			}
		})
	}
}
