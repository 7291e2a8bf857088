package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// Mail is one e-mail to send.
type Mail struct {
	From      string // "Name <addr>" or an address
	To        string
	Subject   string
	Text      string
	HTML      string // empty: a text-only e-mail
	MessageID string // without angle brackets; derived from the event id, so every copy of one e-mail has the same
	Headers   map[string]string
}

// Mailer sends e-mails. Errors are classified with IsTransient and IsUnreachable.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// SMTP sends over SMTP: one connection per e-mail, STARTTLS when the server offers
// it (or always, with RequireTLS), PLAIN authentication when Username is set.
type SMTP struct {
	Addr       string // host:port
	Username   string
	Password   string
	RequireTLS bool
	Timeout    time.Duration // per e-mail [30s]
	HelloName  string        // EHLO name [localhost]
}

// SMTPError is the server's refusal of an e-mail.
type SMTPError struct {
	Code int
	Msg  string
	Step string // MAIL, RCPT, DATA, ...
}

func (e *SMTPError) Error() string { return fmt.Sprintf("smtp %s: %d %s", e.Step, e.Code, e.Msg) }

// UnreachableError is a failure to reach or talk to the server at all (down, a
// timeout, a dropped connection): nothing was refused, the e-mail is tried again
// without limit.
type UnreachableError struct{ Err error }

func (e *UnreachableError) Error() string { return "smtp server unreachable: " + e.Err.Error() }
func (e *UnreachableError) Unwrap() error { return e.Err }

// IsUnreachable reports whether err means the server could not be reached.
func IsUnreachable(err error) bool {
	var u *UnreachableError
	return errors.As(err, &u)
}

// IsPermanentSMTP reports whether the server refused for good (a 5xx: an unknown
// recipient, a message it will never take); 4xx answers are transient.
func IsPermanentSMTP(err error) bool {
	var s *SMTPError
	return errors.As(err, &s) && s.Code >= 500
}

// Send implements Mailer.
func (s *SMTP) Send(ctx context.Context, m Mail) error {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msg, err := Build(m)
	if err != nil {
		return err
	}
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return fmt.Errorf("from address %q: %w", m.From, err)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("recipient %q: %w", m.To, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return &UnreachableError{Err: err}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	host, _, _ := net.SplitHostPort(s.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return classify("greeting", err)
	}
	defer c.Close()
	hello := s.HelloName
	if hello == "" {
		hello = "localhost"
	}
	if err := c.Hello(hello); err != nil {
		return classify("EHLO", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return classify("STARTTLS", err)
		}
	} else if s.RequireTLS {
		return &SMTPError{Code: 530, Msg: "server does not offer STARTTLS and TLS is required", Step: "STARTTLS"}
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
			return classify("AUTH", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return classify("MAIL", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return classify("RCPT", err)
	}
	w, err := c.Data()
	if err != nil {
		return classify("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return classify("DATA", err)
	}
	if err := w.Close(); err != nil {
		return classify("DATA", err)
	}
	// The server accepted the message; a failed QUIT does not change that.
	_ = c.Quit()
	return nil
}

func classify(step string, err error) error {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return &SMTPError{Code: tp.Code, Msg: tp.Msg, Step: step}
	}
	return &UnreachableError{Err: fmt.Errorf("%s: %w", step, err)}
}

// Build renders m as an RFC 5322 message: multipart/alternative (text, then HTML)
// when it has an HTML body, quoted-printable UTF-8 bodies, encoded headers.
func Build(m Mail) ([]byte, error) {
	for _, v := range []string{m.From, m.To, m.MessageID} {
		if strings.ContainsAny(v, "\r\n") {
			return nil, errors.New("header value with a line break")
		}
	}
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", m.From)
	h("To", m.To)
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", time.Now().UTC().Format(time.RFC1123Z))
	h("Message-ID", "<"+m.MessageID+">")
	h("MIME-Version", "1.0")
	for k, v := range m.Headers {
		if strings.ContainsAny(k, "\r\n: ") || strings.ContainsAny(v, "\r\n") {
			return nil, errors.New("header value with a line break")
		}
		h(k, v)
	}
	if m.HTML == "" {
		h("Content-Type", "text/plain; charset=utf-8")
		h("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeQP(&b, m.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	mw := multipart.NewWriter(&b)
	h("Content-Type", "multipart/alternative; boundary="+mw.Boundary())
	b.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(pw, part.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeQP(w interface{ Write([]byte) (int, error) }, s string) error {
	q := quotedprintable.NewWriter(w)
	if _, err := q.Write([]byte(s)); err != nil {
		return err
	}
	return q.Close()
}
