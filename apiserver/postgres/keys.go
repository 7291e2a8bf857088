package postgres

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/apiserver/token"
	"github.com/kommerce/kommerce/internal/secretbox"
)

// KeyStore keeps tenants' signing keys in the database: the key source used when the
// API runs without a cluster (kommerce admin creates and rotates them). It
// implements token.KeySource. Private keys are sealed with Box (see secretbox);
// a nil Box stores them in plaintext and cannot read sealed ones.
type KeyStore struct {
	DB  *DB
	Box *secretbox.Keyring
}

var _ token.KeySource = (*KeyStore)(nil)

func (s *KeyStore) inTenant(ctx context.Context, tenantID string, fn func(q *dbq.Queries) error) error {
	ctx = apiserver.NewContextWithTenant(ctx, &apiserver.Tenant{ID: tenantID})
	return s.DB.InTenant(ctx, false, func(_ pgx.Tx, q *dbq.Queries, _ string) error { return fn(q) })
}

// SigningKey implements token.KeySource.
func (s *KeyStore) SigningKey(ctx context.Context, tenantID string) (*token.Key, error) {
	var k *token.Key
	err := s.inTenant(ctx, tenantID, func(q *dbq.Queries) error {
		row, err := q.ActiveSigningKey(ctx, tenantID)
		if err != nil {
			return err
		}
		der, _, err := s.Box.Open(tenantID, ColumnSigningKey, row.PrivateKey)
		if err != nil {
			return fmt.Errorf("key %s: %w", row.Kid, err)
		}
		priv, err := token.ParsePKCS8(der)
		if err != nil {
			return fmt.Errorf("key %s: %w", row.Kid, err)
		}
		k = &token.Key{TenantID: tenantID, KID: row.Kid, Private: priv}
		return nil
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, token.ErrNoKey
	}
	return k, err
}

// VerificationKey implements token.KeySource.
func (s *KeyStore) VerificationKey(ctx context.Context, tenantID, kid string) (ed25519.PublicKey, error) {
	var pub ed25519.PublicKey
	err := s.inTenant(ctx, tenantID, func(q *dbq.Queries) error {
		sealed, err := q.SigningKeyByKID(ctx, dbq.SigningKeyByKIDParams{TenantID: tenantID, Kid: kid})
		if err != nil {
			return err
		}
		der, _, err := s.Box.Open(tenantID, ColumnSigningKey, sealed)
		if err != nil {
			return fmt.Errorf("key %s: %w", kid, err)
		}
		priv, err := token.ParsePKCS8(der)
		if err != nil {
			return err
		}
		pub = priv.Public().(ed25519.PublicKey)
		return nil
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, token.ErrNoKey
	}
	return pub, err
}

// Rotate makes a new active key for the tenant; earlier keys keep verifying until
// they are older than retain after their retirement, then they are deleted. It
// returns the new key.
func (s *KeyStore) Rotate(ctx context.Context, tenantID string, retain time.Duration) (*token.Key, error) {
	k, err := token.NewKey(tenantID)
	if err != nil {
		return nil, err
	}
	der, err := k.MarshalPKCS8()
	if err != nil {
		return nil, err
	}
	if der, err = s.Box.Seal(tenantID, ColumnSigningKey, der); err != nil {
		return nil, err
	}
	err = s.inTenant(ctx, tenantID, func(q *dbq.Queries) error {
		if _, err := q.DeleteRetiredSigningKeys(ctx, dbq.DeleteRetiredSigningKeysParams{TenantID: tenantID, Before: new(time.Now().Add(-retain))}); err != nil {
			return err
		}
		if err := q.RetireSigningKeys(ctx, tenantID); err != nil {
			return err
		}
		return q.InsertSigningKey(ctx, dbq.InsertSigningKeyParams{TenantID: tenantID, Kid: k.KID, PrivateKey: der})
	})
	if err != nil {
		return nil, fmt.Errorf("rotate signing key: %w", err)
	}
	return k, nil
}
