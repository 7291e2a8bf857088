package testenv

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Default mailpit addresses, matching hack/services.sh.
const (
	DefaultSMTPAddr   = "127.0.0.1:51025"
	DefaultMailpitURL = "http://127.0.0.1:58025"
)

// Mailpit is the SMTP server hack/services.sh runs, read back through its HTTP API.
// Tests share it: each one sends to recipients of its own (MailpitAddress) and reads
// only theirs.
type Mailpit struct {
	SMTPAddr string
	URL      string
}

var mailpitReach reachability

// NewMailpit returns the mailpit server, failing or skipping t when it does not answer.
func NewMailpit(t testing.TB) *Mailpit {
	t.Helper()
	m := &Mailpit{SMTPAddr: env("KOMMERCE_TEST_SMTP_ADDR", DefaultSMTPAddr), URL: env("KOMMERCE_TEST_MAILPIT_URL", DefaultMailpitURL)}
	if err := mailpitReach.check(func() error {
		c, err := net.DialTimeout("tcp", m.SMTPAddr, 3*time.Second)
		if err != nil {
			return err
		}
		c.Close()
		return httpOK(m.URL + "/livez")
	}); err != nil {
		Unavailable(t, "mailpit", m.SMTPAddr, err)
	}
	return m
}

// MailpitBinary returns the mailpit program hack/services.sh built, for a test that
// needs a server of its own with other settings; "" when it is not there.
func MailpitBinary() string {
	p := os.Getenv("KOMMERCE_TEST_MAILPIT_BIN")
	if p == "" {
		home, _ := os.UserHomeDir()
		matches, _ := filepath.Glob(filepath.Join(home, ".cache", "kommerce", "mailpit-*", "mailpit"))
		if len(matches) == 0 {
			return ""
		}
		p = matches[len(matches)-1]
	}
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// MailpitAddress returns an e-mail address unique to t and local (name part) —
// without "+", which mailpit reads as a tag.
func MailpitAddress(t testing.TB, local string) string {
	return local + "-" + randomHex(5) + "@" + "kommerce.test"
}

// MailSummary is one message in a mailpit listing.
type MailSummary struct {
	ID        string `json:"ID"`
	MessageID string `json:"MessageID"`
	Subject   string `json:"Subject"`
	To        []struct {
		Address string `json:"Address"`
	} `json:"To"`
}

// Mail is one message as mailpit received it.
type Mail struct {
	ID        string `json:"ID"`
	MessageID string `json:"MessageID"`
	Subject   string `json:"Subject"`
	Text      string `json:"Text"`
	HTML      string `json:"HTML"`
}

// Search returns the messages addressed to to (newest first).
func (m *Mailpit) Search(to string) ([]MailSummary, error) {
	q := url.Values{"query": {fmt.Sprintf("to:%q", to)}, "limit": {"500"}}
	var out struct {
		Messages []MailSummary `json:"messages"`
	}
	if err := m.get("/api/v1/search?"+q.Encode(), &out); err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// Message returns one message with its bodies.
func (m *Mailpit) Message(id string) (Mail, error) {
	var out Mail
	err := m.get("/api/v1/message/"+url.PathEscape(id), &out)
	return out, err
}

// Headers returns one message's headers.
func (m *Mailpit) Headers(id string) (map[string][]string, error) {
	var out map[string][]string
	err := m.get("/api/v1/message/"+url.PathEscape(id)+"/headers", &out)
	return out, err
}

func (m *Mailpit) get(path string, v any) error {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(m.URL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpit GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
