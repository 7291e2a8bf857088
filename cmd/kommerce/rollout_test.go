package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
	"github.com/kommerce/kommerce/internal/testenv"
	"github.com/kommerce/kommerce/internal/testenv/kubetest"
)

// rolloutNow is the clock of every rollout test: rollback and freeze windows are
// measured against it, so the output holds no wall-clock time.
var rolloutNow = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) *metav1.Time { t := metav1.NewTime(rolloutNow.Add(d)); return &t }

func TestRolloutArgs(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "help names the kubectl equivalents", args: []string{"--help"}, wantStdout: "kubectl annotate storefront web kommerce.io/promote=true --overwrite"},
		{name: "listed in kommerce --help", args: nil, wantStdout: "rollout"},
		{name: "no action", args: []string{}, wantCode: 2, wantStderr: "rollout needs an action and a storefront"},
		{name: "unknown action", args: []string{"pause", "web"}, wantCode: 2, wantStderr: `unknown rollout action "pause": accepted values are status, promote, abort, undo`},
		{name: "no storefront", args: []string{"promote"}, wantCode: 2, wantStderr: "rollout promote needs exactly one storefront name (got 0 arguments)"},
		{name: "two storefronts", args: []string{"abort", "web", "shop"}, wantCode: 2, wantStderr: "(got 2 arguments)"},
		{name: "bad storefront name", args: []string{"status", "Web_1"}, wantCode: 2, wantStderr: `storefront name "Web_1"`},
		{name: "watch on promote", args: []string{"promote", "web", "-w"}, wantCode: 2, wantStderr: "apply to rollout status only"},
		{name: "timeout without watch", args: []string{"status", "web", "--timeout", "1m"}, wantCode: 2, wantStderr: "--timeout needs --watch"},
		{name: "unknown output", args: []string{"status", "web", "-o", "yaml"}, wantCode: 2, wantStderr: "accepted values are text, json"},
		{name: "bad namespace", args: []string{"status", "web", "-n", "Shop_A"}, wantCode: 2, wantStderr: "want a namespace name"},
		{name: "missing kubeconfig", args: []string{"status", "web"}, env: map[string]string{"KUBECONFIG": missing}, wantCode: 2, wantStderr: "kubeconfig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"rollout"}, tt.args...)
			if tt.args == nil {
				args = []string{"--help"}
			}
			code, stdout, stderr := invoke(t, tt.env, args...)
			if code != tt.wantCode || !strings.Contains(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("exit %d stdout %q stderr %q; want %d, %q, %q", code, stdout, stderr, tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestRolloutExpandShortFlags(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"status web -n shop -o json -w", "status web --namespace shop --output json --watch"},
		{"status -n=shop web", "status --namespace=shop web"},
		{"status web -- -n", "status web -- -n"},
		{"status web --namespace shop", "status web --namespace shop"},
	}
	for _, tt := range tests {
		if got := strings.Join(expandShortFlags(strings.Fields(tt.in)), " "); got != tt.want {
			t.Errorf("expandShortFlags(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestRolloutPlanUndo covers what undo writes in each state, without a cluster.
func TestRolloutPlanUndo(t *testing.T) {
	promoted := kv1.StorefrontStatus{
		Phase: kv1.StorefrontReady, ActiveColor: kv1.Green, ActiveVersion: "v2", ActiveImage: "kommerce.local/kommerce:v2",
		PreviousColor: kv1.Blue, PreviousVersion: "v1", PreviousImage: "kommerce.local/kommerce:v1", RollbackUntil: at(10 * time.Minute),
	}
	str := func(s string) *string { return &s }
	tests := []struct {
		name      string
		specImage string
		status    func(*kv1.StorefrontStatus)
		want      undoPlan
		wantAbort bool
		wantErr   string
	}{
		{name: "within the window", want: undoPlan{version: "v1", color: kv1.Blue, instant: true}},
		{name: "window ended", status: func(s *kv1.StorefrontStatus) { s.RollbackUntil = at(-5 * time.Minute) },
			want: undoPlan{version: "v1", color: kv1.Blue, because: "the rollback window ended at 2026-12-05T09:55:00Z (5m ago) and Blue was scaled to zero"}},
		{name: "window ends now", status: func(s *kv1.StorefrontStatus) { s.RollbackUntil = at(0) },
			want: undoPlan{version: "v1", color: kv1.Blue, because: "the rollback window ended at 2026-12-05T10:00:00Z (0s ago) and Blue was scaled to zero"}},
		{name: "no previous colour", status: func(s *kv1.StorefrontStatus) { s.PreviousColor, s.RollbackUntil = "", nil },
			want: undoPlan{version: "v1", because: "no previous colour is kept running"}},
		{name: "previous image from another repository", status: func(s *kv1.StorefrontStatus) { s.PreviousImage = "registry.example/shop:v1" },
			want: undoPlan{version: "v1", color: kv1.Blue, instant: true, image: str("registry.example/shop")}},
		{name: "spec.image set, previous from the same repository", specImage: "registry.example/shop",
			status: func(s *kv1.StorefrontStatus) {
				s.ActiveImage, s.PreviousImage = "registry.example/shop:v2", "registry.example/shop:v1"
			},
			want: undoPlan{version: "v1", color: kv1.Blue, instant: true}},
		{name: "spec.image set, previous from the default", specImage: "registry.example/shop",
			status: func(s *kv1.StorefrontStatus) { s.ActiveImage = "registry.example/shop:v2" },
			want:   undoPlan{version: "v1", color: kv1.Blue, instant: true, image: str("kommerce.local/kommerce")}},
		{name: "previous image by digest leaves spec.image", status: func(s *kv1.StorefrontStatus) { s.PreviousImage = "kommerce.local/kommerce@sha256:abc" },
			want: undoPlan{version: "v1", color: kv1.Blue, instant: true}},
		{name: "previewing is abort", status: func(s *kv1.StorefrontStatus) { s.Phase = kv1.StorefrontPreviewing }, wantAbort: true},
		{name: "paused is abort", status: func(s *kv1.StorefrontStatus) { s.Phase = kv1.StorefrontPaused }, wantAbort: true},
		{name: "promoting is refused", status: func(s *kv1.StorefrontStatus) { s.Phase = kv1.StorefrontPromoting }, wantErr: "traffic is switching colours (phase Promoting)"},
		{name: "rolling back is refused", status: func(s *kv1.StorefrontStatus) { s.Phase = kv1.StorefrontRollingBack }, wantErr: "phase RollingBack"},
		{name: "no previous version", status: func(s *kv1.StorefrontStatus) { s.PreviousVersion, s.PreviousColor, s.PreviousImage = "", "", "" },
			wantErr: "nothing to undo: web has no previous version"},
		{name: "after an abort, back to what serves", status: func(s *kv1.StorefrontStatus) {
			s.Phase, s.AbortedImage = kv1.StorefrontAborted, "kommerce.local/kommerce:v3"
		}, want: undoPlan{version: "v2", color: kv1.Green, because: "the aborted rollout is dropped and the spec matches what serves; no traffic moves"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sf := &kv1.Storefront{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}, Spec: kv1.StorefrontSpec{Version: "v3", Image: tt.specImage}}
			sf.Status = promoted
			if tt.status != nil {
				tt.status(&sf.Status)
			}
			plan, abort, err := planUndo(sf, rolloutNow)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || abort != tt.wantAbort {
				t.Fatalf("abort %v err %v, want abort %v", abort, err, tt.wantAbort)
			}
			if deref(plan.image) != deref(tt.want.image) {
				t.Errorf("image = %v, want %v", deref(plan.image), deref(tt.want.image))
			}
			plan.image, tt.want.image = nil, nil
			if plan != tt.want {
				t.Errorf("plan = %+v, want %+v", plan, tt.want)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", *s)
}

// rolloutBed is one API server for the rollout tests: a client to arrange
// Storefronts with, and a kubeconfig for the command.
type rolloutBed struct {
	c          client.Client
	kubeconfig string
	nsCount    atomic.Int32
}

func startRolloutBed(t *testing.T) *rolloutBed {
	t.Helper()
	env, cfg, err := kubetest.Start(filepath.Join(kubetest.RepoRoot(), "config", "crd", "bases"))
	kubetest.Unavailable(t, err)
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.AddUser(envtest.User{Name: "platform-team", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	_ = kv1.AddToScheme(scheme)
	_ = corev1.AddToScheme(scheme)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &rolloutBed{c: c, kubeconfig: kubeconfig}
}

// namespace creates a namespace of the test's own.
func (b *rolloutBed) namespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("rollout-%d", b.nsCount.Add(1))}}
	if err := b.c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.c.Delete(context.Background(), ns) })
	return ns.Name
}

// storefront creates Storefront web in ns asking for version and writes st as its
// status (observedGeneration defaults to the current generation), as the operator
// would have.
func (b *rolloutBed) storefront(t *testing.T, ns, version string, promotion kv1.PromotionMode, st kv1.StorefrontStatus) *kv1.Storefront {
	t.Helper()
	ctx := context.Background()
	sf := &kv1.Storefront{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: kv1.StorefrontSpec{
			TenantRef: kv1.LocalObjectReference{Name: "acme"},
			Version:   version,
			Channels:  []kv1.Channel{{Name: "web-eu", Currency: "EUR", Locales: []string{"de-DE"}, Hostname: "shop.acme.example"}},
			Rollout: kv1.StorefrontRollout{Promotion: promotion, PrePromotionChecks: []kv1.PrePromotionCheck{
				{Name: "health", Path: "/readyz"}, {Name: "catalog", Path: "/api/v1/products?limit=1"},
			}},
		},
	}
	if err := b.c.Create(ctx, sf); err != nil {
		t.Fatal(err)
	}
	b.setStatus(t, sf, st)
	return sf
}

func (b *rolloutBed) setStatus(t *testing.T, sf *kv1.Storefront, st kv1.StorefrontStatus) {
	t.Helper()
	if st.ObservedGeneration == 0 {
		st.ObservedGeneration = sf.Generation
	}
	sf.Status = st
	if err := b.c.Status().Update(context.Background(), sf); err != nil {
		t.Fatalf("write status: %v", err)
	}
}

func (b *rolloutBed) get(t *testing.T, ns string) *kv1.Storefront {
	t.Helper()
	sf := &kv1.Storefront{}
	if err := b.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "web"}, sf); err != nil {
		t.Fatal(err)
	}
	return sf
}

// rollout runs `kommerce rollout args...` against the bed with the test clock.
func (b *rolloutBed) rollout(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = b.rolloutTo(context.Background(), &out, &errOut, b.kubeconfig, args...)
	return code, out.String(), errOut.String()
}

func (b *rolloutBed) rolloutTo(ctx context.Context, stdout, stderr io.Writer, kubeconfig string, args ...string) int {
	vars := map[string]string{"KUBECONFIG": kubeconfig}
	e := &env{args: args, getenv: func(k string) string { return vars[k] }, stdin: strings.NewReader(""), stdout: stdout, stderr: stderr}
	err := rolloutCmd{now: func() time.Time { return rolloutNow }}.run(ctx, e)
	var buf bytes.Buffer
	code := exitCode(err, &buf)
	_, _ = stderr.Write(buf.Bytes())
	return code
}

// States a rollout passes through, as the operator writes them.
var (
	condTime = metav1.NewTime(time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC))

	readyV1 = kv1.StorefrontStatus{
		Phase: kv1.StorefrontReady, ActiveColor: kv1.Blue, ActiveVersion: "v1", ActiveImage: "kommerce.local/kommerce:v1", ActiveReplicas: 2,
		URLs: []string{"https://shop.acme.example"},
	}
	// pausedV2 passed its checks and waits for a manual promotion.
	pausedV2 = kv1.StorefrontStatus{
		Phase: kv1.StorefrontPaused, ActiveColor: kv1.Blue, ActiveVersion: "v1", ActiveImage: "kommerce.local/kommerce:v1", ActiveReplicas: 2,
		PreviewColor: kv1.Green, PreviewVersion: "v2", PreviewImage: "kommerce.local/kommerce:v2", PreviewReplicas: 2,
		Checks: []kv1.CheckResult{
			{Name: "health", Passed: true, Status: 200, Message: "got 200"},
			{Name: "catalog", Passed: true, Status: 200, Message: "got 200"},
		},
		BlockedBy: "waiting for kommerce rollout promote",
		URLs:      []string{"https://shop.acme.example"}, PreviewURL: "http://web-preview.rollout-1.svc:8080",
		Conditions: []metav1.Condition{
			{Type: kv1.StorefrontAvailable, Status: metav1.ConditionTrue, Reason: kv1.ReasonAsExpected, Message: "Blue serves v1", LastTransitionTime: condTime},
			{Type: kv1.StorefrontProgressing, Status: metav1.ConditionTrue, Reason: kv1.ReasonWaitingForPromote, Message: "v2 passed its checks", LastTransitionTime: condTime},
			{Type: kv1.StorefrontPromoted, Status: metav1.ConditionFalse, Reason: kv1.ReasonWaitingForPromote, Message: "", LastTransitionTime: condTime},
		},
	}
	// previewingV2 waits for its preview pods.
	previewingV2 = kv1.StorefrontStatus{
		Phase: kv1.StorefrontPreviewing, ActiveColor: kv1.Blue, ActiveVersion: "v1", ActiveImage: "kommerce.local/kommerce:v1", ActiveReplicas: 2,
		PreviewColor: kv1.Green, PreviewVersion: "v2", PreviewImage: "kommerce.local/kommerce:v2", PreviewReplicas: 1,
		BlockedBy: "waiting for preview colour green to become available (1/2 ready)",
	}
	// abortedV2 failed a check: the preview is gone, the results stay.
	abortedV2 = kv1.StorefrontStatus{
		Phase: kv1.StorefrontAborted, ActiveColor: kv1.Blue, ActiveVersion: "v1", ActiveImage: "kommerce.local/kommerce:v1", ActiveReplicas: 2,
		AbortedImage: "kommerce.local/kommerce:v2",
		Checks: []kv1.CheckResult{
			{Name: "health", Passed: true, Status: 200, Message: "got 200"},
			{Name: "catalog", Passed: false, Status: 500, Message: `want 200, got 500: {"error":{"code":"internal"}}`},
		},
		BlockedBy: `check catalog failed: want 200, got 500: {"error":{"code":"internal"}}`,
		URLs:      []string{"https://shop.acme.example"},
	}
	// promotedV2 runs v2 on Green; Blue keeps v1 until rollbackUntil.
	promotedV2 = kv1.StorefrontStatus{
		Phase: kv1.StorefrontReady, ActiveColor: kv1.Green, ActiveVersion: "v2", ActiveImage: "kommerce.local/kommerce:v2", ActiveReplicas: 2,
		PreviousColor: kv1.Blue, PreviousVersion: "v1", PreviousImage: "kommerce.local/kommerce:v1", RollbackUntil: at(25 * time.Minute),
		PromotedAt: at(-5 * time.Minute), URLs: []string{"https://shop.acme.example"},
	}
)

// TestRollout runs the command against a real API server, with the Storefront's
// status written by hand for each phase, and checks what it prints and writes.
func TestRollout(t *testing.T) {
	bed := startRolloutBed(t)
	t.Run("status tells what a paused rollout waits for", func(t *testing.T) { rolloutStatusGolden(t, bed) })
	t.Run("status as JSON", func(t *testing.T) { rolloutStatusJSON(t, bed) })
	t.Run("namespace from the kubeconfig context", func(t *testing.T) { rolloutContextNamespace(t, bed) })
	t.Run("unknown storefront names the namespace", func(t *testing.T) {
		ns := bed.namespace(t)
		code, _, stderr := bed.rollout(t, "status", "shop", "-n", ns)
		want := fmt.Sprintf(`storefront "shop" not found in namespace %q`, ns)
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("exit %d stderr %q, want 1 and %q", code, stderr, want)
		}
	})
	t.Run("promote", func(t *testing.T) { rolloutPromote(t, bed) })
	t.Run("abort", func(t *testing.T) { rolloutAbort(t, bed) })
	t.Run("undo", func(t *testing.T) { rolloutUndo(t, bed) })
	t.Run("watch", func(t *testing.T) { rolloutWatch(t, bed) })
}

func rolloutStatusGolden(t *testing.T, bed *rolloutBed) {
	ns := bed.namespace(t)
	sf := bed.storefront(t, ns, "v2", kv1.PromoteManual, pausedV2)
	code, stdout, stderr := bed.rollout(t, "status", "web", "-n", ns)
	want := fmt.Sprintf(`Storefront:    web (namespace %[1]s, tenant acme)
Phase:         Paused
Waiting for:   a manual promotion of v2 (Green): kommerce rollout promote web -n %[1]s
Desired:       v2, promotion Manual, generation %[2]d (status describes %[2]d)
Active:        Blue v1, 2 API pods ready, image kommerce.local/kommerce:v1
Preview:       Green v2, 2 API pods ready, image kommerce.local/kommerce:v2
Previous:      -
Blocked by:    waiting for kommerce rollout promote
URLs:          https://shop.acme.example
Preview URL:   http://web-preview.rollout-1.svc:8080
Checks:
  NAME     RESULT  HTTP  MESSAGE
  health   pass    200   got 200
  catalog  pass    200   got 200
Conditions:
  TYPE         STATUS  REASON               MESSAGE
  Available    True    AsExpected           Blue serves v1
  Progressing  True    WaitingForPromotion  v2 passed its checks
  Promoted     False   WaitingForPromotion  -
`, ns, sf.Generation)
	if code != 0 || stdout != want {
		t.Errorf("exit %d, stderr %q, stdout:\n%s\nwant:\n%s", code, stderr, stdout, want)
	}

	// After the promotion: the previous colour and how long an undo stays instant.
	bed.setStatus(t, sf, promotedV2)
	_, stdout, _ = bed.rollout(t, "status", "web", "-n", ns)
	for _, w := range []string{
		"Phase:         Ready\n",
		"Waiting for:   nothing: v2 serves all traffic\n",
		"Previous:      Blue v1, undo possible until 2026-12-05T10:25:00Z (25m left, instant)\n",
		"Checks:\n  none run\n",
	} {
		if !strings.Contains(stdout, w) {
			t.Errorf("status after promotion lacks %q:\n%s", w, stdout)
		}
	}

	// A freeze window: what it is and until when.
	frozen := pausedV2
	frozen.BlockedBy, frozen.BlockedUntil = "freeze window black-friday until 2026-12-05T13:00:00Z", at(3*time.Hour)
	bed.setStatus(t, sf, frozen)
	_, stdout, _ = bed.rollout(t, "status", "web", "-n", ns)
	for _, w := range []string{
		"Waiting for:   freeze window black-friday until 2026-12-05T13:00:00Z (for 3h more)\n",
		"Blocked by:    freeze window black-friday until 2026-12-05T13:00:00Z, until 2026-12-05T13:00:00Z (in 3h)\n",
	} {
		if !strings.Contains(stdout, w) {
			t.Errorf("status in a freeze window lacks %q:\n%s", w, stdout)
		}
	}
}

func rolloutStatusJSON(t *testing.T, bed *rolloutBed) {
	ns := bed.namespace(t)
	bed.storefront(t, ns, "v2", kv1.PromoteAuto, previewingV2)
	code, stdout, stderr := bed.rollout(t, "status", "web", "-n", ns, "-o", "json")
	var v struct {
		Name, Namespace, WaitingFor string
		Settled                     bool
		Status                      kv1.StorefrontStatus
	}
	if err := json.Unmarshal([]byte(stdout), &v); err != nil || code != 0 {
		t.Fatalf("exit %d stderr %q, stdout not JSON (%v):\n%s", code, stderr, err, stdout)
	}
	if v.Name != "web" || v.Namespace != ns || v.Settled || v.Status.Phase != kv1.StorefrontPreviewing ||
		v.WaitingFor != "preview colour green to become available (1/2 ready)" || v.Status.PreviewReplicas != 1 {
		t.Errorf("JSON view = %+v", v)
	}
}

// rolloutContextNamespace uses a kubeconfig whose context names the namespace: no -n
// is needed, as with kubectl.
func rolloutContextNamespace(t *testing.T, bed *rolloutBed) {
	ns := bed.namespace(t)
	bed.storefront(t, ns, "v1", kv1.PromoteAuto, readyV1)
	cfg, err := clientcmd.LoadFromFile(bed.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Contexts[cfg.CurrentContext].Namespace = ns
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := bed.rolloutTo(context.Background(), &out, &errOut, kubeconfig, "status", "web")
	if code != 0 || !strings.Contains(out.String(), "(namespace "+ns+", tenant acme)") {
		t.Errorf("exit %d stderr %q stdout:\n%s", code, errOut.String(), out.String())
	}
	// Without a namespace in the context it is "default", where web does not exist.
	code, _, stderr := bed.rollout(t, "status", "web")
	if code != 1 || !strings.Contains(stderr, `in namespace "default"`) {
		t.Errorf("without context namespace: exit %d stderr %q", code, stderr)
	}
}

func rolloutPromote(t *testing.T, bed *rolloutBed) {
	t.Run("paused: the annotation is set", func(t *testing.T) {
		ns := bed.namespace(t)
		sf := bed.storefront(t, ns, "v2", kv1.PromoteManual, pausedV2)
		code, stdout, stderr := bed.rollout(t, "promote", "web", "-n", ns)
		if code != 0 || !strings.Contains(stdout, "promotion of v2 (Green) requested: the controller switches traffic from v1 (Blue) to Green") {
			t.Errorf("exit %d stderr %q stdout %q", code, stderr, stdout)
		}
		got := bed.get(t, ns)
		if got.Annotations[kv1.AnnotationPromote] != "true" {
			t.Errorf("annotation %s = %q, want true", kv1.AnnotationPromote, got.Annotations[kv1.AnnotationPromote])
		}
		// The annotation is a metadata-only patch: the spec, and so the generation,
		// stays as it was (a typed Update would rewrite "30m" as "30m0s" and bump it).
		if got.Generation != sf.Generation {
			t.Errorf("generation %d after promote, want %d", got.Generation, sf.Generation)
		}
		// A second promote before the controller acted changes nothing.
		code, stdout, _ = bed.rollout(t, "promote", "web", "-n", ns)
		if code != 0 || !strings.Contains(stdout, "already requested") {
			t.Errorf("second promote: exit %d stdout %q", code, stdout)
		}
	})
	t.Run("freeze window: the annotation is set and the wait named", func(t *testing.T) {
		ns := bed.namespace(t)
		frozen := pausedV2
		frozen.BlockedBy, frozen.BlockedUntil = "freeze window black-friday", at(90*time.Minute)
		bed.storefront(t, ns, "v2", kv1.PromoteManual, frozen)
		code, stdout, _ := bed.rollout(t, "promote", "web", "-n", ns)
		if code != 0 || !strings.Contains(stdout, "A freeze window blocks promotions until 2026-12-05T11:30:00Z (in 90m): freeze window black-friday") {
			t.Errorf("exit %d stdout %q", code, stdout)
		}
		if got := bed.get(t, ns).Annotations[kv1.AnnotationPromote]; got != "true" {
			t.Errorf("annotation = %q, want true", got)
		}
	})
	refusals := []struct {
		name       string
		version    string
		status     kv1.StorefrontStatus
		generation int64 // observedGeneration when not the current one
		// abortPending: kommerce.io/abort is set and not acted on yet.
		abortPending bool
		wantStderr   string
	}{
		{name: "preview not up", version: "v2", status: previewingV2,
			wantStderr: "cannot promote web: phase is Previewing, not Paused; promote acts only on a preview that passed its checks. The rollout waits for preview colour green to become available (1/2 ready)"},
		{name: "no preview", version: "v1", status: readyV1, wantStderr: "phase is Ready, not Paused"},
		{name: "aborted", version: "v2", status: abortedV2, wantStderr: "phase is Aborted, not Paused; promote acts only on a preview that passed its checks. The rollout waits for nothing: the rollout was aborted (check catalog failed"},
		{name: "no status yet", version: "v1", status: kv1.StorefrontStatus{}, generation: -1, wantStderr: "cannot promote web yet: the controller has not picked up its latest change"},
		{name: "abort pending", version: "v2", status: pausedV2, abortPending: true, wantStderr: "cannot promote web: an abort is requested (kommerce.io/abort)"},
	}
	for _, tt := range refusals {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			ns := bed.namespace(t)
			sf := bed.storefront(t, ns, tt.version, kv1.PromoteManual, tt.status)
			if tt.generation < 0 {
				// The status of an older generation: the operator has not seen this one.
				sf.Spec.Version = "v3"
				if err := bed.c.Update(context.Background(), sf); err != nil {
					t.Fatal(err)
				}
			}
			if tt.abortPending {
				patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"kommerce.io/abort":"true"}}}`))
				if err := bed.c.Patch(context.Background(), sf, patch); err != nil {
					t.Fatal(err)
				}
			}
			code, stdout, stderr := bed.rollout(t, "promote", "web", "-n", ns)
			if code != 1 || !strings.Contains(stderr, tt.wantStderr) || stdout != "" {
				t.Errorf("exit %d stdout %q stderr %q; want 1 and %q", code, stdout, stderr, tt.wantStderr)
			}
			if a := bed.get(t, ns).Annotations; a[kv1.AnnotationPromote] != "" {
				t.Errorf("a refused promote set the annotation: %v", a)
			}
		})
	}
}

func rolloutAbort(t *testing.T, bed *rolloutBed) {
	for _, st := range []kv1.StorefrontStatus{previewingV2, pausedV2} {
		t.Run(string(st.Phase), func(t *testing.T) {
			ns := bed.namespace(t)
			bed.storefront(t, ns, "v2", kv1.PromoteManual, st)
			code, stdout, stderr := bed.rollout(t, "abort", "web", "-n", ns)
			if code != 0 || !strings.Contains(stdout, "abort of v2 (Green) requested: the controller scales the preview down and removes kommerce.io/abort; v1 (Blue) keeps serving") {
				t.Errorf("exit %d stderr %q stdout %q", code, stderr, stdout)
			}
			sf := bed.get(t, ns)
			if sf.Annotations[kv1.AnnotationAbort] != "true" || sf.Spec.Version != "v2" {
				t.Errorf("annotations %v, spec.version %s; want abort=true and v2 unchanged", sf.Annotations, sf.Spec.Version)
			}
		})
	}
	t.Run("refused when nothing runs", func(t *testing.T) {
		ns := bed.namespace(t)
		bed.storefront(t, ns, "v2", kv1.PromoteManual, promotedV2)
		code, _, stderr := bed.rollout(t, "abort", "web", "-n", ns)
		want := "nothing to abort: web has no rollout in progress (phase Ready); to go back to v1 use kommerce rollout undo web -n " + ns
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("exit %d stderr %q, want %q", code, stderr, want)
		}
		if a := bed.get(t, ns).Annotations; a[kv1.AnnotationAbort] != "" {
			t.Errorf("a refused abort set the annotation: %v", a)
		}
	})
}

func rolloutUndo(t *testing.T, bed *rolloutBed) {
	tests := []struct {
		name        string
		version     string
		status      kv1.StorefrontStatus
		wantVersion string
		wantImage   string
		wantAbort   bool
		wantStdout  string
	}{
		{name: "within the rollback window", version: "v2", status: promotedV2, wantVersion: "v1",
			wantStdout: "switching back to v1 (Blue): Blue still runs until 2026-12-05T10:25:00Z, so the controller points traffic at it at once, without checks; freeze windows do not block it."},
		{name: "after the rollback window", version: "v2", status: func() kv1.StorefrontStatus {
			s := promotedV2
			s.RollbackUntil = at(-time.Hour)
			return s
		}(), wantVersion: "v1",
			wantStdout: "no instant rollback possible: the rollback window ended at 2026-12-05T09:00:00Z (60m ago) and Blue was scaled to zero. A normal rollout to v1 starts"},
		{name: "previous image from another repository", version: "v2", status: func() kv1.StorefrontStatus {
			s := promotedV2
			s.PreviousImage = "registry.example/shop:v1"
			return s
		}(), wantVersion: "v1", wantImage: "registry.example/shop", wantStdout: "switching back to v1 (Blue)"},
		{name: "during a preview it aborts", version: "v2", status: pausedV2, wantVersion: "v2", wantAbort: true,
			wantStdout: "a preview of v2 is in progress, so undo aborts it"},
		{name: "after an abort the spec goes back to what serves", version: "v2", status: abortedV2, wantVersion: "v1",
			wantStdout: "spec.version set back to v1, which Blue serves: the aborted rollout is dropped and the spec matches what serves; no traffic moves."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := bed.namespace(t)
			bed.storefront(t, ns, tt.version, kv1.PromoteManual, tt.status)
			code, stdout, stderr := bed.rollout(t, "undo", "web", "-n", ns)
			if code != 0 || !strings.Contains(stdout, tt.wantStdout) {
				t.Errorf("exit %d stderr %q stdout %q, want %q", code, stderr, stdout, tt.wantStdout)
			}
			sf := bed.get(t, ns)
			if sf.Spec.Version != tt.wantVersion || sf.Spec.Image != tt.wantImage || (sf.Annotations[kv1.AnnotationAbort] == "true") != tt.wantAbort {
				t.Errorf("spec.version %q image %q annotations %v; want %q, %q, abort %v", sf.Spec.Version, sf.Spec.Image, sf.Annotations, tt.wantVersion, tt.wantImage, tt.wantAbort)
			}
		})
	}
	t.Run("refused without a previous version", func(t *testing.T) {
		ns := bed.namespace(t)
		bed.storefront(t, ns, "v1", kv1.PromoteManual, readyV1)
		code, _, stderr := bed.rollout(t, "undo", "web", "-n", ns)
		if code != 1 || !strings.Contains(stderr, "nothing to undo: web has no previous version") {
			t.Errorf("exit %d stderr %q", code, stderr)
		}
		if v := bed.get(t, ns).Spec.Version; v != "v1" {
			t.Errorf("spec.version = %s after a refused undo", v)
		}
	})
}

// rolloutWatch follows a rollout through its phases: one print per change, and the
// exit status of how it settled.
func rolloutWatch(t *testing.T, bed *rolloutBed) {
	t.Run("until promoted", func(t *testing.T) {
		ns := bed.namespace(t)
		sf := bed.storefront(t, ns, "v2", kv1.PromoteManual, previewingV2)
		var out, errOut testenv.SyncBuffer
		done := make(chan int, 1)
		go func() {
			done <- bed.rolloutTo(context.Background(), &out, &errOut, bed.kubeconfig, "status", "web", "-n", ns, "-w")
		}()
		waitFor := func(s string) {
			testenv.Eventually(t, 30*time.Second, "watch prints "+s, func() (bool, string) {
				return strings.Contains(out.String(), s), out.String() + errOut.String()
			})
		}
		waitFor("Phase:         Previewing")
		bed.setStatus(t, sf, pausedV2)
		waitFor("Phase:         Paused")
		bed.setStatus(t, sf, promotedV2)
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("exit %d, stderr %q", code, errOut.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("watch did not end at Ready; output:\n%s", out.String())
		}
		if n := strings.Count(out.String(), "Storefront:"); n != 3 || !strings.Contains(out.String(), "Phase:         Ready") {
			t.Errorf("%d prints, want 3 ending Ready:\n%s", n, out.String())
		}
	})
	t.Run("aborted exits 1", func(t *testing.T) {
		ns := bed.namespace(t)
		bed.storefront(t, ns, "v2", kv1.PromoteManual, abortedV2)
		code, stdout, stderr := bed.rollout(t, "status", "web", "-n", ns, "--watch")
		if code != 1 || !strings.Contains(stderr, "the rollout of web was aborted: check catalog failed: want 200, got 500") || !strings.Contains(stdout, "Phase:         Aborted") {
			t.Errorf("exit %d stdout %q stderr %q", code, stdout, stderr)
		}
	})
	t.Run("timeout says what it waited for", func(t *testing.T) {
		ns := bed.namespace(t)
		bed.storefront(t, ns, "v2", kv1.PromoteManual, pausedV2)
		code, _, stderr := bed.rollout(t, "status", "web", "-n", ns, "--watch", "--timeout", "1s")
		if code != 1 || !strings.Contains(stderr, "timed out after 1s; the rollout waits for a manual promotion of v2 (Green)") {
			t.Errorf("exit %d stderr %q", code, stderr)
		}
	})
}
