package storefront

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
)

// CheckRequest is one pre-promotion check to run against a preview.
type CheckRequest struct {
	// URL is the preview Service's URL with the check's path.
	URL string
	// Tenant is sent as X-Kommerce-Tenant, the tenant of a storefront pod.
	Tenant string
	// Timeout bounds the attempt.
	Timeout time.Duration
}

// CheckAnswer is what the preview answered: an HTTP status and the start of the
// body, or the error that kept it from answering.
type CheckAnswer struct {
	Status int
	Body   string
	Err    error
}

// Checker runs pre-promotion checks. The operator's is HTTPChecker; a test may
// point the requests at its own server.
type Checker interface {
	Check(ctx context.Context, req CheckRequest) CheckAnswer
}

// HTTPChecker runs checks with plain HTTP GETs.
type HTTPChecker struct {
	// Client sends the requests; http.DefaultClient's transport when nil.
	Client *http.Client
}

// bodySnippet is how much of an answer's body a check result quotes.
const bodySnippet = 256

// Check sends GET req.URL and reads up to bodySnippet bytes of the answer.
func (h HTTPChecker) Check(ctx context.Context, req CheckRequest) CheckAnswer {
	ctx, cancel := context.WithTimeout(ctx, req.Timeout)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, req.URL, nil)
	if err != nil {
		return CheckAnswer{Err: err}
	}
	r.Header.Set(tenantHeader, req.Tenant)
	c := h.Client
	if c == nil {
		c = &http.Client{}
	}
	resp, err := c.Do(r)
	if err != nil {
		return CheckAnswer{Err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, bodySnippet))
	return CheckAnswer{Status: resp.StatusCode, Body: string(body)}
}

// checkResult judges an answer against the check's expected status.
func checkResult(c kv1.PrePromotionCheck, a CheckAnswer, at time.Time) kv1.CheckResult {
	want := c.ExpectStatus
	if want == 0 {
		want = http.StatusOK
	}
	r := kv1.CheckResult{Name: c.Name, Status: int32(a.Status), Time: &metav1.Time{Time: at}}
	switch {
	case a.Err != nil:
		r.Message = truncate(fmt.Sprintf("want %d, got no answer: %v", want, a.Err), 1000)
	case int32(a.Status) != want:
		r.Message = truncate(fmt.Sprintf("want %d, got %d: %s", want, a.Status, strings.TrimSpace(a.Body)), 1000)
	default:
		r.Passed = true
		r.Message = fmt.Sprintf("got %d", a.Status)
	}
	return r
}

// runChecks runs every check against the preview of sf, in order, and returns
// their results.
func runChecks(ctx context.Context, c Checker, sf *kv1.Storefront, slug string, now func() time.Time) []kv1.CheckResult {
	out := make([]kv1.CheckResult, 0, len(sf.Spec.Rollout.PrePromotionChecks))
	for _, chk := range sf.Spec.Rollout.PrePromotionChecks {
		timeout := time.Duration(chk.TimeoutSeconds) * time.Second
		if timeout <= 0 {
			timeout = 5 * time.Second
		}
		a := c.Check(ctx, CheckRequest{URL: previewURL(sf) + chk.Path, Tenant: slug, Timeout: timeout})
		out = append(out, checkResult(chk, a, now()))
	}
	return out
}
