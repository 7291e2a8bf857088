package postgres

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/apiserver/postgres/dbq"
	"github.com/kommerce/kommerce/internal/secretbox"
	"github.com/kommerce/kommerce/internal/testenv"
)

func keyring(t *testing.T, lines ...string) *secretbox.Keyring {
	t.Helper()
	r, err := secretbox.Parse([]byte(strings.Join(lines, "")))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// storedSecrets reads the raw stored values with SQL, as someone with database
// read access would: signing keys by "<tenant>/<kid>", Stripe secrets by
// "<tenant>/secret" and "<tenant>/webhook".
func storedSecrets(t *testing.T, db *DB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := db.AsPlatform(context.Background(), func(q *dbq.Queries) error {
		keys, err := q.AllSigningKeySecrets(context.Background())
		if err != nil {
			return err
		}
		for _, k := range keys {
			out[k.TenantID+"/"+k.Kid] = k.PrivateKey
		}
		pays, err := q.AllPaymentKeySecrets(context.Background())
		for _, p := range pays {
			out[p.TenantID+"/secret"] = []byte(p.StripeSecretKey)
			out[p.TenantID+"/webhook"] = []byte(p.StripeWebhookSecret)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func secretsTenants(t *testing.T, db *DB, slugs ...string) []string {
	t.Helper()
	var ids []string
	for _, s := range slugs {
		tn, err := (&TenantService{DB: db}).CreateTenant(context.Background(), apiserver.TenantCreate{Slug: s, Name: s, TopicPrefix: s, IndexPrefix: s, RedisPrefix: s + ":"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tn.ID)
	}
	return ids
}

// TestSecretsSealedAtRest: what the database holds is not the secret, the right
// key reads it back, a wrong key or a value copied to another tenant fails with
// a clear error.
func TestSecretsSealedAtRest(t *testing.T) {
	ctx := context.Background()
	db := NewDB(testenv.NewDatabase(t).Pool)
	ids := secretsTenants(t, db, "a", "b")
	box := keyring(t, secretbox.NewLine("k1"))
	keys := &KeyStore{DB: db, Box: box}
	ka, err := keys.Rotate(ctx, ids[0], time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := keys.Rotate(ctx, ids[1], time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := SetStripeKeys(ctx, db, box, ids[0], apiserver.StripeKeys{SecretKey: "sk_test_secret_a", WebhookSecret: "whsec_a"}); err != nil {
		t.Fatal(err)
	}
	der, _ := ka.MarshalPKCS8()
	stored := storedSecrets(t, db)
	for name, v := range stored {
		if id, ok := secretbox.Sealed(v); !ok || id != "k1" {
			t.Errorf("%s stored as %.20q, want sealed under k1", name, v)
		}
	}
	if v := stored[ids[0]+"/"+ka.KID]; bytes.Contains(v, der[len(der)-32:]) {
		t.Fatal("the stored signing key holds the private key")
	}
	if v := stored[ids[0]+"/secret"]; bytes.Contains(v, []byte("sk_test")) {
		t.Fatal("the stored Stripe key holds the secret")
	}

	got, err := keys.SigningKey(ctx, ids[0])
	if err != nil || !got.Private.Equal(ka.Private) {
		t.Fatalf("SigningKey = %v, %v", got, err)
	}
	sk, err := (&PaymentKeyStore{DB: db, Box: box}).StripeKeys(ctx, ids[0])
	if err != nil || sk.SecretKey != "sk_test_secret_a" || sk.WebhookSecret != "whsec_a" {
		t.Fatalf("StripeKeys = %+v, %v", sk, err)
	}

	wrong := &KeyStore{DB: db, Box: keyring(t, secretbox.NewLine("k1"))}
	if _, err := wrong.SigningKey(ctx, ids[0]); !errors.Is(err, secretbox.ErrOpen) {
		t.Fatalf("wrong key: %v, want ErrOpen", err)
	}
	if _, err := (&KeyStore{DB: db, Box: keyring(t, secretbox.NewLine("k9"))}).SigningKey(ctx, ids[0]); !errors.Is(err, secretbox.ErrUnknownKey) {
		t.Fatalf("key not loaded: %v, want ErrUnknownKey", err)
	}
	if _, err := (&KeyStore{DB: db}).SigningKey(ctx, ids[0]); !errors.Is(err, secretbox.ErrUnknownKey) {
		t.Fatalf("no key file: %v, want ErrUnknownKey", err)
	}
	if _, err := SealSecrets(ctx, db, nil, false); !errors.Is(err, secretbox.ErrUnknownKey) {
		t.Fatalf("start without the key over sealed rows: %v, want ErrUnknownKey", err)
	}
	if _, err := SealSecrets(ctx, db, wrong.Box, false); !errors.Is(err, secretbox.ErrOpen) {
		t.Fatalf("start with a wrong key: %v, want ErrOpen", err)
	}

	// Copy tenant a's sealed key into tenant b's row.
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT set_config('kommerce.platform', 'on', true)"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "UPDATE signing_keys SET private_key = (SELECT private_key FROM signing_keys WHERE tenant_id = $1) WHERE tenant_id = $2", ids[0], ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.SigningKey(ctx, ids[1]); !errors.Is(err, secretbox.ErrOpen) {
		t.Fatalf("tenant a's key copied to tenant b (%s): %v, want ErrOpen", kb.KID, err)
	}
}

// TestSecretsRotationAndLegacy: plaintext rows written before sealing keep
// working and are sealed at start; rotating the key rewrites every row, after
// which the old key can be dropped.
func TestSecretsRotationAndLegacy(t *testing.T) {
	ctx := context.Background()
	db := NewDB(testenv.NewDatabase(t).Pool)
	ids := secretsTenants(t, db, "a", "b")
	plain := &KeyStore{DB: db}
	var kids []string
	for _, id := range ids {
		k, err := plain.Rotate(ctx, id, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		kids = append(kids, k.KID)
	}
	if err := SetStripeKeys(ctx, db, nil, ids[1], apiserver.StripeKeys{SecretKey: "sk_test_b"}); err != nil {
		t.Fatal(err)
	}
	for name, v := range storedSecrets(t, db) {
		if _, ok := secretbox.Sealed(v); ok {
			t.Fatalf("%s sealed without a key", name)
		}
	}

	l1, l2 := secretbox.NewLine("k1"), secretbox.NewLine("k2")
	k1 := keyring(t, l1)
	// Legacy rows read with a key configured.
	if _, err := (&KeyStore{DB: db, Box: k1}).SigningKey(ctx, ids[0]); err != nil {
		t.Fatalf("legacy row: %v", err)
	}
	rep, err := SealSecrets(ctx, db, k1, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep != (SecretsReport{Rows: 3, Plaintext: 3, Rewritten: 3}) {
		t.Fatalf("start: %+v, want 3 plaintext values sealed", rep)
	}
	if rep, err := SealSecrets(ctx, db, k1, false); err != nil || rep.Rewritten != 0 {
		t.Fatalf("second start rewrote %+v, %v", rep, err)
	}
	check := func(box *secretbox.Keyring, wantID string) {
		t.Helper()
		for name, v := range storedSecrets(t, db) {
			if name == ids[1]+"/webhook" {
				if len(v) != 0 {
					t.Errorf("empty webhook secret stored as %q", v)
				}
				continue
			}
			if id, _ := secretbox.Sealed(v); id != wantID {
				t.Errorf("%s under key %q, want %q", name, id, wantID)
			}
		}
		for i, id := range ids {
			k, err := (&KeyStore{DB: db, Box: box}).SigningKey(ctx, id)
			if err != nil || k.KID != kids[i] {
				t.Errorf("tenant %d: %v, %v", i, k, err)
			}
		}
		sk, err := (&PaymentKeyStore{DB: db, Box: box}).StripeKeys(ctx, ids[1])
		if err != nil || sk.SecretKey != "sk_test_b" || sk.WebhookSecret != "" {
			t.Errorf("StripeKeys = %+v, %v", sk, err)
		}
	}
	check(k1, "k1")

	rep, err = SealSecrets(ctx, db, keyring(t, l2, l1), true)
	if err != nil || rep.Rewritten != 3 || rep.Plaintext != 0 {
		t.Fatalf("rotate: %+v, %v", rep, err)
	}
	onlyNew := keyring(t, l2)
	check(onlyNew, "k2")
	if _, err := (&KeyStore{DB: db, Box: k1}).SigningKey(ctx, ids[0]); !errors.Is(err, secretbox.ErrUnknownKey) {
		t.Fatalf("old key alone after rotation: %v, want ErrUnknownKey", err)
	}
}
