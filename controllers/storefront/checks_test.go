package storefront

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
)

func TestHTTPChecker(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Kommerce-Tenant") != "acme" {
			http.Error(w, "no tenant", http.StatusBadRequest)
			return
		}
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusOK)
		case "/created":
			w.WriteHeader(http.StatusCreated)
		case "/slow":
			<-r.Context().Done()
		default:
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":{"code":"internal","message":"` + strings.Repeat("x", 400) + `"}}`))
		}
	}))
	defer srv.Close()
	tests := []struct {
		name       string
		path       string
		expect     int32
		timeout    time.Duration
		wantPassed bool
		wantMsg    string
	}{
		{"ok", "/ok", 0, time.Second, true, "got 200"},
		{"expected status", "/created", 201, time.Second, true, "got 201"},
		{"wrong status quotes the body", "/boom", 200, time.Second, false, `want 200, got 500: {"error":{"code":"internal"`},
		{"no answer in time", "/slow", 200, 50 * time.Millisecond, false, "want 200, got no answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := HTTPChecker{}.Check(context.Background(), CheckRequest{URL: srv.URL + tt.path, Tenant: "acme", Timeout: tt.timeout})
			r := checkResult(kv1.PrePromotionCheck{Name: "c", Path: tt.path, ExpectStatus: tt.expect}, a, t0)
			if r.Passed != tt.wantPassed || !strings.HasPrefix(r.Message, tt.wantMsg) || r.Time == nil {
				t.Errorf("result %+v, want passed=%t message starting %q", r, tt.wantPassed, tt.wantMsg)
			}
			if len(r.Message) > 1024 {
				t.Errorf("message of %d bytes exceeds the status field's limit", len(r.Message))
			}
		})
	}
}

// scripted answers each check with the next status of its path's list.
type scripted struct{ answers map[string][]int }

func (s *scripted) Check(_ context.Context, req CheckRequest) CheckAnswer {
	path := req.URL[strings.Index(req.URL, ".svc")+len(".svc"):]
	list := s.answers[path]
	if len(list) == 0 {
		return CheckAnswer{Status: 599}
	}
	s.answers[path] = list[1:]
	return CheckAnswer{Status: list[0]}
}

func TestRunChecksRetries(t *testing.T) {
	sf := testStorefront()
	sf.Spec.Rollout.PrePromotionChecks = []kv1.PrePromotionCheck{{Name: "flaky", Path: "/flaky"}, {Name: "broken", Path: "/broken"}}
	s := &scripted{answers: map[string][]int{"/flaky": {503, 200}, "/broken": {500, 500, 500, 200}}}
	got := runChecks(context.Background(), s, checkRetry{Attempts: 3, Delay: time.Millisecond}, sf, "acme", func() time.Time { return t0 })
	if len(got) != 2 || !got[0].Passed || got[1].Passed || got[1].Status != 500 {
		t.Errorf("results %+v: want the flaky check passed on its second attempt and the broken one failed after three", got)
	}
	if left := s.answers["/broken"]; len(left) != 1 {
		t.Errorf("broken check tried %d times, want 3", 4-len(left))
	}
}
