package mailtmpl

import "strings"

// DefaultLocale is the locale of the shipped templates used when neither the tenant
// nor the platform has one for the e-mail's locale.
const DefaultLocale = "en"

const orderLinesText = `{{range .Order.Lines}}  {{.Quantity}} x {{.Name}} ({{.SKU}})  {{money .Amount}}
{{end}}`

const orderLinesHTML = `<table>{{range .Order.Lines}}<tr><td>{{.Quantity}} &times; {{.Name}} <small>{{.SKU}}</small></td><td style="text-align:right">{{money .Amount}}</td></tr>{{end}}</table>`

var defaults = map[string]map[Kind]Template{
	"en": {
		OrderCreated: {
			Subject: `{{.Storefront}}: we received your order {{.Order.Number}}`,
			Text: `Hello {{.Recipient.Name}},

thank you for your order {{.Order.Number}} at {{.Storefront}}.

` + orderLinesText + `
Subtotal: {{money .Order.Subtotal}}
Shipping: {{money .Order.Shipping}}
Tax:      {{money .Order.Tax}}
Total:    {{money .Order.Total}}

We will let you know when it is paid and on its way.
{{.Storefront}}
`,
			HTML: `<p>Hello {{.Recipient.Name}},</p><p>thank you for your order <b>{{.Order.Number}}</b> at {{.Storefront}}.</p>` + orderLinesHTML +
				`<p>Subtotal: {{money .Order.Subtotal}}<br>Shipping: {{money .Order.Shipping}}<br>Tax: {{money .Order.Tax}}<br><b>Total: {{money .Order.Total}}</b></p><p>{{.Storefront}}</p>`,
		},
		OrderPaid: {
			Subject: `{{.Storefront}}: payment received for order {{.Order.Number}}`,
			Text:    "Hello {{.Recipient.Name}},\n\nwe received your payment of {{money .Order.Total}} for order {{.Order.Number}}.\nWe are preparing it now.\n\n{{.Storefront}}\n",
			HTML:    `<p>Hello {{.Recipient.Name}},</p><p>we received your payment of <b>{{money .Order.Total}}</b> for order {{.Order.Number}}. We are preparing it now.</p><p>{{.Storefront}}</p>`,
		},
		OrderShipped: {
			Subject: `{{.Storefront}}: order {{.Order.Number}} is on its way`,
			Text:    "Hello {{.Recipient.Name}},\n\nyour order {{.Order.Number}} has shipped.\n\n" + orderLinesText + "\n{{.Storefront}}\n",
			HTML:    `<p>Hello {{.Recipient.Name}},</p><p>your order <b>{{.Order.Number}}</b> has shipped.</p>` + orderLinesHTML + `<p>{{.Storefront}}</p>`,
		},
		OrderRefunded: {
			Subject: `{{.Storefront}}: order {{.Order.Number}} refunded`,
			Text:    "Hello {{.Recipient.Name}},\n\nwe refunded {{money .Order.Refunded}} for order {{.Order.Number}}. It can take a few days to show on your statement.\n\n{{.Storefront}}\n",
			HTML:    `<p>Hello {{.Recipient.Name}},</p><p>we refunded <b>{{money .Order.Refunded}}</b> for order {{.Order.Number}}. It can take a few days to show on your statement.</p><p>{{.Storefront}}</p>`,
		},
		PasswordReset: {
			Subject: `{{.Storefront}}: reset your password`,
			Text:    "Hello {{.Recipient.Name}},\n\nsomeone asked to reset the password of your account at {{.Storefront}}. To choose a new one, open\n\n{{.Link}}\n\nThe link works once, until {{date .ExpiresAt}}. If you did not ask, ignore this e-mail: your password stays as it is.\n",
			HTML:    `<p>Hello {{.Recipient.Name}},</p><p>someone asked to reset the password of your account at {{.Storefront}}. <a href="{{.Link}}">Choose a new password</a>.</p><p>The link works once, until {{date .ExpiresAt}}. If you did not ask, ignore this e-mail: your password stays as it is.</p>`,
		},
		EmailVerification: {
			Subject: `{{.Storefront}}: confirm your e-mail address`,
			Text:    "Hello {{.Recipient.Name}},\n\nplease confirm that {{.Recipient.Email}} is your address at {{.Storefront}} by opening\n\n{{.Link}}\n\nThe link works once, until {{date .ExpiresAt}}.\n",
			HTML:    `<p>Hello {{.Recipient.Name}},</p><p>please confirm that {{.Recipient.Email}} is your address at {{.Storefront}}: <a href="{{.Link}}">confirm</a>.</p><p>The link works once, until {{date .ExpiresAt}}.</p>`,
		},
		WebhookDisabled: {
			Subject: `{{.Storefront}}: webhook endpoint disabled`,
			Text:    "The webhook endpoint {{.Endpoint.URL}} ({{.Endpoint.ID}}) kept failing and was disabled: {{.Endpoint.Reason}}\n\nFix the receiver, then enable it again with PATCH /api/v1/webhooks/{{.Endpoint.ID}} {\"enabled\": true}; failed deliveries can be sent again from the delivery log.\n",
			HTML:    `<p>The webhook endpoint <code>{{.Endpoint.URL}}</code> ({{.Endpoint.ID}}) kept failing and was disabled: {{.Endpoint.Reason}}</p><p>Fix the receiver, then enable it again with <code>PATCH /api/v1/webhooks/{{.Endpoint.ID}}</code>; failed deliveries can be sent again from the delivery log.</p>`,
		},
	},
	"de": {
		OrderCreated: {
			Subject: `{{.Storefront}}: Ihre Bestellung {{.Order.Number}} ist eingegangen`,
			Text: `Hallo {{.Recipient.Name}},

vielen Dank für Ihre Bestellung {{.Order.Number}} bei {{.Storefront}}.

` + orderLinesText + `
Zwischensumme: {{money .Order.Subtotal}}
Versand:       {{money .Order.Shipping}}
Steuer:        {{money .Order.Tax}}
Gesamt:        {{money .Order.Total}}

{{.Storefront}}
`,
			HTML: `<p>Hallo {{.Recipient.Name}},</p><p>vielen Dank für Ihre Bestellung <b>{{.Order.Number}}</b> bei {{.Storefront}}.</p>` + orderLinesHTML +
				`<p>Zwischensumme: {{money .Order.Subtotal}}<br>Versand: {{money .Order.Shipping}}<br>Steuer: {{money .Order.Tax}}<br><b>Gesamt: {{money .Order.Total}}</b></p>`,
		},
		OrderPaid: {
			Subject: `{{.Storefront}}: Zahlung für Bestellung {{.Order.Number}} erhalten`,
			Text:    "Hallo {{.Recipient.Name}},\n\nwir haben Ihre Zahlung über {{money .Order.Total}} für die Bestellung {{.Order.Number}} erhalten.\n\n{{.Storefront}}\n",
		},
		OrderShipped: {
			Subject: `{{.Storefront}}: Bestellung {{.Order.Number}} ist unterwegs`,
			Text:    "Hallo {{.Recipient.Name}},\n\nIhre Bestellung {{.Order.Number}} wurde versandt.\n\n" + orderLinesText + "\n{{.Storefront}}\n",
		},
		OrderRefunded: {
			Subject: `{{.Storefront}}: Bestellung {{.Order.Number}} erstattet`,
			Text:    "Hallo {{.Recipient.Name}},\n\nwir haben {{money .Order.Refunded}} für die Bestellung {{.Order.Number}} erstattet.\n\n{{.Storefront}}\n",
		},
		PasswordReset: {
			Subject: `{{.Storefront}}: Passwort zurücksetzen`,
			Text:    "Hallo {{.Recipient.Name}},\n\num ein neues Passwort für Ihr Konto bei {{.Storefront}} zu wählen, öffnen Sie\n\n{{.Link}}\n\nDer Link gilt einmal, bis {{date .ExpiresAt}}. Wenn Sie das nicht angefordert haben, ignorieren Sie diese E-Mail.\n",
		},
		EmailVerification: {
			Subject: `{{.Storefront}}: E-Mail-Adresse bestätigen`,
			Text:    "Hallo {{.Recipient.Name}},\n\nbitte bestätigen Sie Ihre Adresse {{.Recipient.Email}} bei {{.Storefront}}:\n\n{{.Link}}\n\nDer Link gilt einmal, bis {{date .ExpiresAt}}.\n",
		},
	},
}

// Default returns the shipped template of kind for locale ("de-AT" uses "de"),
// falling back to DefaultLocale.
func Default(kind Kind, locale string) Template {
	lang := strings.ToLower(strings.SplitN(locale, "-", 2)[0])
	if t, ok := defaults[lang][kind]; ok {
		return t
	}
	return defaults[DefaultLocale][kind]
}

// Locales lists the locales a lookup tries for locale, most specific first:
// "de-AT" gives ["de-AT", "de", "en"].
func Locales(locale string) []string {
	var out []string
	add := func(s string) {
		for _, x := range out {
			if x == s {
				return
			}
		}
		if s != "" {
			out = append(out, s)
		}
	}
	add(locale)
	add(strings.ToLower(strings.SplitN(locale, "-", 2)[0]))
	add(DefaultLocale)
	return out
}

// HasDefault reports whether a template of kind ships for locale exactly.
func HasDefault(kind Kind, locale string) bool {
	_, ok := defaults[locale][kind]
	return ok
}
