// Package mailtmpl renders the platform's e-mails from templates: one subject, HTML
// body and plain-text body per kind of e-mail and locale. Defaults ship in the binary
// (English and German); a tenant may store its own, which the API checks with
// Validate before saving, so a template that cannot render is refused at save time
// rather than discovered when an order is paid. The notifier (ingest/notify) renders
// with Render and dead-letters an e-mail whose stored template still fails.
//
// Subjects and plain text use text/template, the HTML body html/template (values are
// escaped for their context). Templates see Data and the function money, which
// formats an amount in minor units with the currency and locale of the e-mail.
package mailtmpl

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"
)

// Kind names one e-mail the platform sends.
type Kind string

// The e-mails the platform sends.
const (
	OrderCreated      Kind = "order_created"
	OrderPaid         Kind = "order_paid"
	OrderShipped      Kind = "order_shipped"
	OrderRefunded     Kind = "order_refunded"
	PasswordReset     Kind = "password_reset"
	EmailVerification Kind = "email_verification"
	WebhookDisabled   Kind = "webhook_disabled"
)

// Kinds lists every Kind, in the order docs list them.
var Kinds = []Kind{OrderCreated, OrderPaid, OrderShipped, OrderRefunded, PasswordReset, EmailVerification, WebhookDisabled}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Template is one e-mail's source: subject, HTML body (may be empty: a text-only
// e-mail) and plain-text body.
type Template struct {
	Subject string `json:"subject"`
	HTML    string `json:"html"`
	Text    string `json:"text"`
}

// Data is what a template sees. Fields that do not apply to a kind are zero.
type Data struct {
	Storefront string // the shop's name, as shoppers know it
	Locale     string // e.g. "en", "de"
	Currency   string // ISO 4217 code of the amounts
	Recipient  Recipient
	Order      Order
	Link       string    // password reset / verification: the link with the token
	ExpiresAt  time.Time // when Link stops working
	Endpoint   Endpoint  // webhook_disabled: the endpoint that was turned off
}

// Recipient is who the e-mail is addressed to.
type Recipient struct {
	Email string
	Name  string
}

// Order is an order as e-mails show it; amounts are minor units of Data.Currency.
type Order struct {
	ID       string
	Number   string // a short form of ID for people
	Status   string
	Subtotal int64
	Shipping int64
	Tax      int64
	Total    int64
	Refunded int64
	Lines    []Line
}

// Line is one order line.
type Line struct {
	SKU       string
	Name      string
	Quantity  int64
	UnitPrice int64
	Amount    int64
}

// Endpoint is a webhook endpoint as webhook_disabled e-mails show it.
type Endpoint struct {
	ID     string
	URL    string
	Reason string
}

// Rendered is an e-mail ready to send.
type Rendered struct {
	Subject string
	HTML    string
	Text    string
}

// Limits on stored templates, so one tenant cannot make the notifier render megabytes.
const (
	MaxSubject = 1000
	MaxHTML    = 200000
	MaxText    = 100000
)

// ErrTemplate wraps every parse and render failure; its message names the part
// (subject, html, text) and the template's own error.
var ErrTemplate = errors.New("template")

func funcs(d Data) map[string]any {
	return map[string]any{
		"money": func(amount int64) string { return Money(amount, d.Currency, d.Locale) },
		"date":  func(t time.Time) string { return FormatDate(t, d.Locale) },
		"upper": strings.ToUpper,
	}
}

// Render renders t with d. A template that does not parse, names a field Data does
// not have, or fails while executing is an error wrapping ErrTemplate.
func Render(t Template, d Data) (Rendered, error) {
	var out Rendered
	var err error
	if out.Subject, err = renderText("subject", t.Subject, d); err != nil {
		return Rendered{}, err
	}
	out.Subject = strings.Join(strings.Fields(out.Subject), " ") // no header injection
	if out.Subject == "" {
		return Rendered{}, fmt.Errorf("%w subject: renders to nothing", ErrTemplate)
	}
	if out.Text, err = renderText("text", t.Text, d); err != nil {
		return Rendered{}, err
	}
	if strings.TrimSpace(out.Text) == "" {
		return Rendered{}, fmt.Errorf("%w text: renders to nothing", ErrTemplate)
	}
	if t.HTML != "" {
		tpl, err := htmltemplate.New("html").Option("missingkey=error").Funcs(funcs(d)).Parse(t.HTML)
		if err != nil {
			return Rendered{}, fmt.Errorf("%w html: %v", ErrTemplate, err)
		}
		var b bytes.Buffer
		if err := tpl.Execute(&b, d); err != nil {
			return Rendered{}, fmt.Errorf("%w html: %v", ErrTemplate, err)
		}
		out.HTML = b.String()
	}
	return out, nil
}

func renderText(part, src string, d Data) (string, error) {
	tpl, err := texttemplate.New(part).Option("missingkey=error").Funcs(funcs(d)).Parse(src)
	if err != nil {
		return "", fmt.Errorf("%w %s: %v", ErrTemplate, part, err)
	}
	var b bytes.Buffer
	if err := tpl.Execute(&b, d); err != nil {
		return "", fmt.Errorf("%w %s: %v", ErrTemplate, part, err)
	}
	return b.String(), nil
}

// Validate checks a template a tenant wants to store for kind: sizes, and that it
// renders against sample data of that kind in locale. The error says which part
// failed and why, for the 4xx the API answers.
func Validate(kind Kind, locale string, t Template) error {
	switch {
	case !kind.Valid():
		return fmt.Errorf("%w: unknown kind %q", ErrTemplate, kind)
	case len(t.Subject) == 0 || len(t.Subject) > MaxSubject:
		return fmt.Errorf("%w subject: must be 1 to %d bytes", ErrTemplate, MaxSubject)
	case len(t.HTML) > MaxHTML:
		return fmt.Errorf("%w html: at most %d bytes", ErrTemplate, MaxHTML)
	case len(t.Text) == 0 || len(t.Text) > MaxText:
		return fmt.Errorf("%w text: must be 1 to %d bytes", ErrTemplate, MaxText)
	}
	_, err := Render(t, Sample(kind, locale))
	return err
}

// Sample returns example data for kind, what Validate renders and the docs show.
func Sample(kind Kind, locale string) Data {
	d := Data{
		Storefront: "Example Shop", Locale: locale, Currency: "EUR",
		Recipient: Recipient{Email: "ada@example.com", Name: "Ada"},
	}
	switch kind {
	case OrderCreated, OrderPaid, OrderShipped, OrderRefunded:
		d.Order = Order{
			ID: "5b7e9c1a-2d3f-4e5a-9b6c-7d8e9f0a1b2c", Number: "5B7E9C1A", Status: "paid",
			Subtotal: 3998, Shipping: 500, Tax: 900, Total: 5398, Refunded: 5398,
			Lines: []Line{{SKU: "MUG-1", Name: "Travel Mug", Quantity: 2, UnitPrice: 1999, Amount: 3998}},
		}
	case PasswordReset, EmailVerification:
		d.Link = "https://shop.example/reset?token=sample"
		d.ExpiresAt = time.Date(2026, 3, 7, 17, 0, 0, 0, time.UTC)
	case WebhookDisabled:
		d.Endpoint = Endpoint{ID: "0f0e0d0c-0b0a-4909-8807-060504030201", URL: "https://erp.example/hooks", Reason: "failing since 2026-03-06T17:00:00Z: 503 Service Unavailable"}
	}
	return d
}

// OrderNumber is the short order number e-mails show: the first eight hex digits of
// the order id, upper case.
func OrderNumber(id string) string {
	s := strings.ToUpper(strings.ReplaceAll(id, "-", ""))
	if len(s) > 8 {
		s = s[:8]
	}
	return s
}
