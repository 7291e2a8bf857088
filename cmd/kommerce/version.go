package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/kommerce/kommerce/internal/config"
	"github.com/kommerce/kommerce/internal/version"
)

func runVersion(_ context.Context, e *env) error {
	set := config.NewSet("version", "Print the version, commit and build date of this binary.", e.getenv)
	var asJSON bool
	set.Bool(&asJSON, "json", "", false, "print as JSON")
	if _, err := set.Parse(e.args, e.stdout); err != nil {
		return err
	}
	info := version.Get()
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	_, err := fmt.Fprintln(e.stdout, info.String())
	return err
}
