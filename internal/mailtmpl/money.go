package mailtmpl

import (
	"strconv"
	"strings"
	"time"
)

// currencyDigits is the number of minor-unit digits of currencies that do not have
// two (ISO 4217); every other currency has two.
var currencyDigits = map[string]int{
	"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "VND": 0, "HUF": 2,
	"BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3,
}

var currencySymbols = map[string]string{
	"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CHF": "CHF", "SEK": "kr", "NOK": "kr", "DKK": "kr", "PLN": "zł",
}

// localeStyle is how a locale writes an amount: separators and the currency's place.
type localeStyle struct {
	group, decimal string
	symbolAfter    bool
}

var localeStyles = map[string]localeStyle{
	"en": {",", ".", false},
	"de": {".", ",", true},
	"fr": {"\u202f", ",", true},
	"es": {".", ",", true},
	"it": {".", ",", true},
	"nl": {".", ",", false},
}

func styleOf(locale string) localeStyle {
	lang := strings.ToLower(strings.SplitN(strings.SplitN(locale, "-", 2)[0], "_", 2)[0])
	if s, ok := localeStyles[lang]; ok {
		return s
	}
	return localeStyles["en"]
}

// Money formats amount (minor units of currency) the way locale writes money:
// Money(123456, "EUR", "en") is "€1,234.56", Money(123456, "EUR", "de") is
// "1.234,56 €". Unknown locales are written as English, unknown currencies with
// their code.
func Money(amount int64, currency, locale string) string {
	currency = strings.ToUpper(currency)
	digits, ok := currencyDigits[currency]
	if !ok {
		digits = 2
	}
	st := styleOf(locale)
	neg := amount < 0
	if neg {
		amount = -amount
	}
	div := int64(1)
	for range digits {
		div *= 10
	}
	whole, frac := amount/div, amount%div
	w := strconv.FormatInt(whole, 10)
	var b strings.Builder
	for i, r := range w {
		if i > 0 && (len(w)-i)%3 == 0 {
			b.WriteString(st.group)
		}
		b.WriteRune(r)
	}
	num := b.String()
	if digits > 0 {
		f := strconv.FormatInt(frac, 10)
		num += st.decimal + strings.Repeat("0", digits-len(f)) + f
	}
	sym, ok := currencySymbols[currency]
	if !ok {
		sym = currency
	}
	var out string
	switch {
	case st.symbolAfter:
		out = num + "\u00a0" + sym
	case len(sym) > 1 && sym == currency:
		out = sym + "\u00a0" + num
	default:
		out = sym + num
	}
	if neg {
		out = "-" + out
	}
	return out
}

// FormatDate writes t (in UTC) as locale writes a date and time.
func FormatDate(t time.Time, locale string) string {
	t = t.UTC()
	switch strings.SplitN(locale, "-", 2)[0] {
	case "de":
		return t.Format("02.01.2006 15:04") + " UTC"
	case "fr", "es", "it", "nl":
		return t.Format("02/01/2006 15:04") + " UTC"
	}
	return t.Format("2 January 2006, 15:04") + " UTC"
}
