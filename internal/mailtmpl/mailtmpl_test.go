package mailtmpl_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kommerce/kommerce/internal/mailtmpl"
)

func TestMoney(t *testing.T) {
	tests := []struct {
		name     string
		amount   int64
		currency string
		locale   string
		want     string
	}{
		{"english euros", 123456, "EUR", "en", "€1,234.56"},
		{"german euros", 123456, "EUR", "de", "1.234,56\u00a0€"},
		{"german region", 5, "EUR", "de-AT", "0,05\u00a0€"},
		{"yen has no minor unit", 1500, "JPY", "en", "¥1,500"},
		{"dinar has three", 1500, "KWD", "en", "KWD\u00a01.500"},
		{"unknown locale is english", 100000000, "USD", "xx", "$1,000,000.00"},
		{"negative", -250, "GBP", "en", "-£2.50"},
		{"lower-case code", 999, "usd", "en", "$9.99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mailtmpl.Money(tt.amount, tt.currency, tt.locale); got != tt.want {
				t.Fatalf("Money(%d, %s, %s) = %q, want %q", tt.amount, tt.currency, tt.locale, got, tt.want)
			}
		})
	}
}

// TestDefaultsRender renders every shipped template with its sample data: a default
// that does not render would dead-letter every e-mail of its kind.
func TestDefaultsRender(t *testing.T) {
	for _, locale := range []string{"en", "de"} {
		for _, k := range mailtmpl.Kinds {
			t.Run(locale+"/"+string(k), func(t *testing.T) {
				r, err := mailtmpl.Render(mailtmpl.Default(k, locale), mailtmpl.Sample(k, locale))
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(r.Subject, "Example Shop") {
					t.Fatalf("subject %q does not name the storefront", r.Subject)
				}
			})
		}
	}
}

func TestRenderFormatsMoneyPerLocale(t *testing.T) {
	d := mailtmpl.Sample(mailtmpl.OrderCreated, "de")
	r, err := mailtmpl.Render(mailtmpl.Default(mailtmpl.OrderCreated, "de"), d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, "53,98\u00a0€") || !strings.Contains(r.HTML, "53,98\u00a0€") {
		t.Fatalf("german total not formatted as 53,98 €:\n%s\n%s", r.Text, r.HTML)
	}
}

func TestValidate(t *testing.T) {
	good := mailtmpl.Template{Subject: "Order {{.Order.Number}}", Text: "Total {{money .Order.Total}}", HTML: "<p>{{.Order.Number}}</p>"}
	tests := []struct {
		name    string
		kind    mailtmpl.Kind
		tpl     mailtmpl.Template
		wantErr string
	}{
		{"good", mailtmpl.OrderPaid, good, ""},
		{"unknown kind", "birthday", good, "unknown kind"},
		{"parse error", mailtmpl.OrderPaid, mailtmpl.Template{Subject: "{{.Order.Number", Text: "x"}, "subject"},
		{"unknown field", mailtmpl.OrderPaid, mailtmpl.Template{Subject: "s", Text: "{{.Order.Nope}}"}, "text"},
		{"unknown function", mailtmpl.OrderPaid, mailtmpl.Template{Subject: "s", Text: "x", HTML: "{{exec .Link}}"}, "html"},
		{"empty text", mailtmpl.OrderPaid, mailtmpl.Template{Subject: "s", Text: ""}, "text"},
		{"renders to nothing", mailtmpl.OrderPaid, mailtmpl.Template{Subject: "{{if false}}x{{end}}", Text: "x"}, "subject"},
		{"wrong argument type", mailtmpl.OrderPaid, mailtmpl.Template{Subject: "s", Text: "{{money .Order.Number}}"}, "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mailtmpl.Validate(tt.kind, "en", tt.tpl)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, mailtmpl.ErrTemplate) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want a template error naming %q", err, tt.wantErr)
			}
		})
	}
}

func TestSubjectCannotInjectHeaders(t *testing.T) {
	d := mailtmpl.Sample(mailtmpl.OrderPaid, "en")
	d.Storefront = "Shop\r\nBcc: victim@example.com"
	r, err := mailtmpl.Render(mailtmpl.Default(mailtmpl.OrderPaid, "en"), d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(r.Subject, "\r\n") {
		t.Fatalf("subject keeps a line break: %q", r.Subject)
	}
}

func TestLocales(t *testing.T) {
	got := strings.Join(mailtmpl.Locales("de-AT"), ",")
	if got != "de-AT,de,en" {
		t.Fatalf("Locales(de-AT) = %s", got)
	}
}
