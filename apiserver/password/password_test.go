package password

import (
	"context"
	"strings"
	"testing"
)

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	fast := Params{Memory: 1024, Time: 1, Threads: 1}
	h, err := Hash(ctx, "correct horse battery", fast)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string", h)
	}
	h2, _ := Hash(ctx, "correct horse battery", fast)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
	tests := []struct {
		name     string
		password string
		hash     string
		want     bool
		wantErr  bool
	}{
		{name: "right password", password: "correct horse battery", hash: h, want: true},
		{name: "wrong password", password: "correct horse battery!", hash: h},
		{name: "empty password", password: "", hash: h},
		{name: "not argon2id", password: "x", hash: "$2a$10$abcdefghijklmnopqrstuv", wantErr: true},
		{name: "garbled params", password: "x", hash: "$argon2id$v=19$m=x$a$b", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Verify(ctx, tt.password, tt.hash)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("Verify = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
