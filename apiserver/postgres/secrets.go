package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/secretbox"
)

// The columns holding sealed secrets; each is part of its values' associated data,
// so a value copied into another column does not open.
const (
	ColumnSigningKey          = "signing_keys.private_key"
	ColumnStripeSecretKey     = "payment_keys.stripe_secret_key"
	ColumnStripeWebhookSecret = "payment_keys.stripe_webhook_secret"
)

// sealText seals a text secret; "" stays "" (no key set).
func sealText(box *secretbox.Keyring, tenantID, column, plain string) (string, error) {
	if plain == "" {
		return "", nil
	}
	v, err := box.Seal(tenantID, column, []byte(plain))
	return string(v), err
}

func openText(box *secretbox.Keyring, tenantID, column, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	p, _, err := box.Open(tenantID, column, []byte(v))
	return string(p), err
}

// SecretsReport counts the rows SealSecrets looked at.
type SecretsReport struct {
	Rows      int // secret values read (signing keys, non-empty Stripe secrets)
	Plaintext int // of which were legacy plaintext
	Rewritten int // values written sealed under the current key
}

// SealSecrets reads every tenant's stored secrets in one transaction and checks
// that each opens with box. With rotate, every value is rewritten under box's
// first key (after which older keys can be dropped from the key file); without,
// only legacy plaintext values are sealed (what the API does at start). A nil box
// rewrites nothing and only checks that no sealed value exists, since it could not
// be read. Any value that does not open fails the whole call and changes nothing.
func SealSecrets(ctx context.Context, db *DB, box *secretbox.Keyring, rotate bool) (SecretsReport, error) {
	var rep SecretsReport
	// reseal returns the value to store, or nil when the stored one is kept.
	reseal := func(tenantID, column string, v []byte) ([]byte, error) {
		rep.Rows++
		plain, legacy, err := box.Open(tenantID, column, v)
		if err != nil {
			return nil, err
		}
		if legacy {
			rep.Plaintext++
		}
		if box == nil || !(legacy || rotate) {
			return nil, nil
		}
		rep.Rewritten++
		return box.Seal(tenantID, column, plain)
	}
	err := db.AsPlatform(ctx, func(q *dbq.Queries) error {
		keys, err := q.AllSigningKeySecrets(ctx)
		if err != nil {
			return err
		}
		for _, k := range keys {
			v, err := reseal(k.TenantID, ColumnSigningKey, k.PrivateKey)
			if err != nil {
				return fmt.Errorf("signing key %s: %w", k.Kid, err)
			}
			if v != nil {
				if err := q.SetSigningKeySecret(ctx, dbq.SetSigningKeySecretParams{TenantID: k.TenantID, Kid: k.Kid, PrivateKey: v}); err != nil {
					return err
				}
			}
		}
		pays, err := q.AllPaymentKeySecrets(ctx)
		if err != nil {
			return err
		}
		for _, p := range pays {
			changed := false
			vals := []*string{&p.StripeSecretKey, &p.StripeWebhookSecret}
			for i, col := range []string{ColumnStripeSecretKey, ColumnStripeWebhookSecret} {
				if *vals[i] == "" {
					continue
				}
				v, err := reseal(p.TenantID, col, []byte(*vals[i]))
				if err != nil {
					return err
				}
				if v != nil {
					*vals[i], changed = string(v), true
				}
			}
			if changed {
				if err := q.SetPaymentKeySecrets(ctx, dbq.SetPaymentKeySecretsParams{TenantID: p.TenantID,
					StripeSecretKey: p.StripeSecretKey, StripeWebhookSecret: p.StripeWebhookSecret}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, secretbox.ErrUnknownKey) || errors.Is(err, secretbox.ErrOpen) {
			return SecretsReport{}, fmt.Errorf("stored secrets: %w", err)
		}
		return SecretsReport{}, fmt.Errorf("seal stored secrets: %w", err)
	}
	return rep, nil
}
