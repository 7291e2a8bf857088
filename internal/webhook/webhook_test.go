package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kommerce/kommerce/internal/webhook"
)

func TestSignVerify(t *testing.T) {
	now := time.Unix(1767225600, 0)
	body := []byte(`{"id":"e1"}`)
	tests := []struct {
		name    string
		header  string
		secret  string
		at      time.Time
		wantErr error
	}{
		{"current secret", webhook.Sign(now, body, "new", "old"), "new", now, nil},
		{"previous secret during rotation", webhook.Sign(now, body, "new", "old"), "old", now, nil},
		{"other secret", webhook.Sign(now, body, "new"), "old", now, webhook.ErrNoSignature},
		{"stale", webhook.Sign(now, body, "s"), "s", now.Add(10 * time.Minute), webhook.ErrStale},
		{"tampered body", webhook.Sign(now, []byte(`{"id":"e2"}`), "s"), "s", now, webhook.ErrNoSignature},
		{"malformed", "v1=abc", "s", now, webhook.ErrMalformedSig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhook.Verify(tt.header, body, tt.secret, 5*time.Minute, tt.at)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
	if h := webhook.Sign(now, body, "a", "b"); strings.Count(h, "v1=") != 2 || !strings.HasPrefix(h, "t=1767225600,") {
		t.Fatalf("Sign with two secrets = %q", h)
	}
}

func TestGuardAllowed(t *testing.T) {
	tests := []struct {
		ip       string
		loopback bool
		private  bool
		allowed  bool
	}{
		{"93.184.216.34", false, false, true},
		{"2606:2800:220:1::1", false, false, true},
		{"127.0.0.1", false, false, false},
		{"127.0.0.1", true, false, true},
		{"::1", false, false, false},
		{"::ffff:127.0.0.1", false, false, false},
		{"10.1.2.3", false, false, false},
		{"10.1.2.3", false, true, true},
		{"172.16.0.1", false, false, false},
		{"192.168.1.1", false, false, false},
		{"100.64.0.1", false, false, false},
		{"fd00::1", false, false, false},
		{"169.254.169.254", false, false, false},
		{"fe80::1", false, false, false},
		{"224.0.0.1", false, true, false},
		{"ff02::1", false, true, false},
		{"0.0.0.0", true, true, false},
		{"::", true, true, false},
		{"255.255.255.255", true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			g := webhook.Guard{AllowLoopback: tt.loopback, AllowPrivate: tt.private}
			err := g.Allowed(netip.MustParseAddr(tt.ip))
			if (err == nil) != tt.allowed {
				t.Fatalf("Allowed(%s) = %v, want allowed=%v", tt.ip, err, tt.allowed)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	g := webhook.Guard{}
	tests := []struct {
		url  string
		want string // part of the error; "" = allowed
	}{
		{"https://93.184.216.34/hook", ""},
		{"ftp://93.184.216.34/hook", "scheme"},
		{"http://user:pw@93.184.216.34/", "user info"},
		{"http://127.0.0.1:8080/", "loopback"},
		{"http://[::1]/", "loopback"},
		{"http://localhost/", "loopback"},
		{"http://169.254.169.254/latest/meta-data", "link-local"},
		{"http:///nohost", "no host"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := g.CheckURL(context.Background(), tt.url)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckURL = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckURL = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

// TestClientRefusesAtDialTime: a real HTTP server on loopback is refused by the
// delivery client's dialer unless the guard allows loopback — the check that holds
// when a name is re-pointed after registration.
func TestClientRefusesAtDialTime(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	_, err := webhook.Guard{}.Client(5*time.Second).Post(srv.URL, "application/json", nil)
	if err == nil || !errors.Is(err, webhook.ErrRefused) {
		t.Fatalf("POST to loopback = %v, want refused", err)
	}
	resp, err := webhook.Guard{AllowLoopback: true}.Client(5*time.Second).Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatalf("POST with loopback allowed: %v", err)
	}
	resp.Body.Close()
}
