package tenant

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"sort"

	corev1 "k8s.io/api/core/v1"

	kv1 "github.com/kommerce/kommerce/api/v1alpha1"
)

// newIdentity generates a signing key and key id from r (crypto/rand in production).
func newIdentity(r io.Reader, tenantID string) (identity, error) {
	_, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return identity{}, fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return identity{}, fmt.Errorf("encode signing key: %w", err)
	}
	kid := make([]byte, 12)
	if _, err := io.ReadFull(r, kid); err != nil {
		return identity{}, fmt.Errorf("generate key id: %w", err)
	}
	return identity{
		TenantID:      tenantID,
		KeyID:         hex.EncodeToString(kid),
		PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
	}, nil
}

// parseIdentity reads the signing key of an identity Secret; it fails for anything
// the API could not use, so a damaged Secret is repaired rather than spread.
func parseIdentity(s *corev1.Secret) (identity, error) {
	kid := string(s.Data[KeyJWTKeyID])
	if kid == "" {
		return identity{}, errors.New("no key id")
	}
	block, _ := pem.Decode(s.Data[KeyJWTSignKey])
	if block == nil || block.Type != "PRIVATE KEY" {
		return identity{}, errors.New("no PEM PRIVATE KEY block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return identity{}, fmt.Errorf("parse signing key: %w", err)
	}
	if _, ok := key.(ed25519.PrivateKey); !ok {
		return identity{}, fmt.Errorf("signing key is %T, want Ed25519", key)
	}
	return identity{KeyID: kid, PrivateKeyPEM: s.Data[KeyJWTSignKey]}, nil
}

// chooseIdentity picks the key to keep among the tenant's existing identity Secrets:
// the oldest valid one, so a key is generated once and survives any later reconcile,
// a deleted Secret in one namespace, or a new namespace. ok is false when there is
// none and a key must be generated.
func chooseIdentity(t *kv1.Tenant, secrets []corev1.Secret) (identity, bool) {
	sort.SliceStable(secrets, func(i, j int) bool {
		a, b := secrets[i].CreationTimestamp, secrets[j].CreationTimestamp
		if !a.Equal(&b) {
			return a.Before(&b)
		}
		return secrets[i].Namespace < secrets[j].Namespace
	})
	for i := range secrets {
		if secrets[i].Labels[kv1.TenantLabel] != t.Name {
			continue
		}
		if id, err := parseIdentity(&secrets[i]); err == nil {
			return id, true
		}
	}
	return identity{}, false
}
