package apiserver

import "testing"

func TestValidIDAndSlug(t *testing.T) {
	ids := []struct {
		in   string
		want bool
	}{
		{"0f8fad5b-d9cb-469f-a165-70867728950e", true},
		{"0F8FAD5B-D9CB-469F-A165-70867728950E", false},
		{"0f8fad5b-d9cb-469f-a165-70867728950", false},
		{"0f8fad5bd9cb-469f-a165-70867728950e0", false},
		{"0f8fad5b-d9cb-469f-a165-70867728950g", false},
		{"", false},
	}
	for _, tt := range ids {
		t.Run("id "+tt.in, func(t *testing.T) {
			if got := ValidID(tt.in); got != tt.want {
				t.Fatalf("ValidID(%q) = %v", tt.in, got)
			}
		})
	}
	slugs := []struct {
		in   string
		want bool
	}{
		{"demo", true}, {"a", true}, {"shop-42", true}, {"", false}, {"-shop", false}, {"shop-", false},
		{"Shop", false}, {"sh_op", false}, {"../etc", false}, {string(make([]byte, 64)), false},
	}
	for _, tt := range slugs {
		t.Run("slug "+tt.in, func(t *testing.T) {
			if got := ValidSlug(tt.in); got != tt.want {
				t.Fatalf("ValidSlug(%q) = %v", tt.in, got)
			}
		})
	}
}
