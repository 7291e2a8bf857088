package discovery

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/kommerce/kommerce/apiserver"
	"github.com/kommerce/kommerce/internal/search"
)

// Search implements apiserver.SearchService over one search.Searcher per process.
type Search struct {
	Searcher    *search.Searcher // nil: search is not configured (503)
	Storefronts *Storefronts
	Settings    SettingsSource // nil: default settings
	// Cache answers repeated queries of a storefront for a short while
	// (NewResultCache); nil asks the engine every time.
	Cache *ResultCache
}

var _ apiserver.SearchService = (*Search)(nil)

// storefront is what a request searches: its tenant's index of the storefront its
// host is mapped to, with that storefront's settings.
func (s *Search) storefront(ctx context.Context, host string) (search.Storefront, error) {
	t, err := apiserver.RequireTenant(ctx)
	if err != nil {
		return search.Storefront{}, err
	}
	name := s.Storefronts.Name(ctx, host)
	sf := search.Storefront{TenantID: t.ID, Index: search.IndexName(t.IndexPrefix, name)}
	if s.Settings != nil {
		sf.Settings = s.Settings.SearchSettings(t.Slug, name)
	}
	return sf, nil
}

// Search implements apiserver.SearchService. The answer may be shared with other
// requests (Cache): callers only encode it.
func (s *Search) Search(ctx context.Context, host string, params url.Values) (*search.Result, error) {
	if s.Searcher == nil {
		return nil, errNoSearch
	}
	q, err := search.ParseQuery(params)
	if err != nil {
		return nil, searchError(err)
	}
	sf, err := s.storefront(ctx, host)
	if err != nil {
		return nil, err
	}
	res, err := s.Cache.get(ctx, kindSearch, sf, params, func(ctx context.Context) (any, error) {
		return s.Searcher.Search(ctx, sf, q)
	})
	if err != nil {
		return nil, searchError(err)
	}
	return res.(*search.Result), nil
}

// Suggest implements apiserver.SearchService; the answer may be shared, as for
// Search.
func (s *Search) Suggest(ctx context.Context, host string, params url.Values) ([]search.Suggestion, error) {
	if s.Searcher == nil {
		return nil, errNoSearch
	}
	q, err := search.ParseSuggest(params)
	if err != nil {
		return nil, searchError(err)
	}
	sf, err := s.storefront(ctx, host)
	if err != nil {
		return nil, err
	}
	res, err := s.Cache.get(ctx, kindSuggest, sf, params, func(ctx context.Context) (any, error) {
		return s.Searcher.Suggest(ctx, sf, q)
	})
	if err != nil {
		return nil, searchError(err)
	}
	return res.([]search.Suggestion), nil
}

var errNoSearch = apiserver.Errorf(apiserver.ErrUnavailable, "Search is not configured on this server.")

// searchError turns a search error into what a client may see: bad parameters name
// themselves, an engine outage is 503, anything else a logged 500 whose details stay
// in the log.
func searchError(err error) error {
	var se *search.Error
	switch search.ErrorCode(err) {
	case search.CodeInvalid:
		if errors.As(err, &se) {
			return &apiserver.Error{Code: apiserver.ErrInvalid, Field: se.Field, Message: sentence(se.Message)}
		}
	case search.CodeUnavailable:
		return unavailable("Search is unavailable right now; retry later.", err)
	}
	return fmt.Errorf("search: %w", err)
}

// unavailableError is a 503 for the client that keeps its cause for the log line
// the HTTP layer writes.
type unavailableError struct {
	client *apiserver.Error
	cause  error
}

func unavailable(message string, cause error) error {
	return &unavailableError{client: apiserver.Errorf(apiserver.ErrUnavailable, "%s", message), cause: cause}
}

func (e *unavailableError) Error() string { return e.client.Error() + ": " + e.cause.Error() }

// Unwrap exposes the *apiserver.Error (for the code and message) and the cause.
func (e *unavailableError) Unwrap() []error { return []error{e.client, e.cause} }

// sentence makes a search message ("limit must be between 1 and 100") read as a
// sentence in an API error.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
