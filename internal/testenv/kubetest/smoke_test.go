package kubetest_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kommerce/kommerce/internal/testenv/kubetest"
)

// TestSmokeEnvtest starts a real kube-apiserver + etcd and creates and reads an object
// with controller-runtime's client.
func TestSmokeEnvtest(t *testing.T) {
	env, cfg, err := kubetest.Start()
	kubetest.Unavailable(t, err)
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke", Namespace: "default"},
		Data:       map[string]string{"hello": "world"},
	}
	if err := c.Create(ctx, cm); err != nil {
		t.Fatalf("create: %v", err)
	}
	var got corev1.ConfigMap
	if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "smoke"}, &got); err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.Data["hello"] != "world" || got.UID == "" {
		t.Fatalf("read back %+v", got)
	}
}
