// Package sfsettings is the contract between the Storefront controller and the API
// pods of a storefront: the settings document the operator renders from a Storefront
// (and its ModelVersions) into the storefront's ConfigMap, mounted into every API
// pod under Key, and re-read by the API without a restart.
//
// It is the one source of a storefront's settings: where the database also holds
// some (checkout tax, shipping and reservation TTL), the document wins while a pod
// serves from it. The document is versioned by APIVersion so an old API pod can
// refuse a document it does not understand instead of misreading it; unknown
// fields are errors for the same reason.
package sfsettings

// APIVersion is the version of the document's shape.
const APIVersion = "kommerce.io/storefront-settings/v1"

// Key is the ConfigMap key (and file name under the mount) holding the document.
const Key = "storefront.json"

// Document is one storefront's settings.
type Document struct {
	// APIVersion is always APIVersion.
	APIVersion string `json:"apiVersion"`
	// Tenant is the tenant's slug (the Tenant resource's name).
	Tenant string `json:"tenant"`
	// Storefront is the Storefront resource's name.
	Storefront string `json:"storefront"`
	// Generation is the Storefront's metadata.generation the document was rendered
	// from; the API logs it on reload and exposes it as a metric, so a user can see
	// that a pod runs with the latest spec.
	Generation int64 `json:"generation"`
	// Channels are the hostnames the storefront answers on, with their currency and
	// locales; the first channel's currency is the checkout currency.
	Channels []Channel `json:"channels"`
	// Search is spec.search (same shape).
	Search Search `json:"search"`
	// SearchIndex is the search index alias of the storefront's products.
	SearchIndex string `json:"searchIndex,omitempty"`
	// Inventory is spec.inventory.
	Inventory Inventory `json:"inventory"`
	// Checkout is spec.checkout.
	Checkout Checkout `json:"checkout"`
	// CORS is spec.cors.
	CORS CORS `json:"cors"`
	// Models are the model bindings with the traffic split the ModelVersion
	// controller computed; empty means no model serves (recommendations fall back
	// to popularity).
	Models []Model `json:"models,omitempty"`
}

// Channel is one hostname of the storefront.
type Channel struct {
	Name     string   `json:"name"`
	Hostname string   `json:"hostname"`
	Currency string   `json:"currency"`
	Locales  []string `json:"locales"`
}

// Search holds query-time search settings, in the Storefront's spec.search shape.
type Search struct {
	Synonyms     []Synonyms   `json:"synonyms,omitempty"`
	Boosts       []Boost      `json:"boosts,omitempty"`
	Autocomplete Autocomplete `json:"autocomplete"`
}

// Synonyms is one group of interchangeable terms.
type Synonyms struct {
	Terms []string `json:"terms"`
}

// Boost weighs one product field; WeightPercent 100 is neutral.
type Boost struct {
	Field         string `json:"field"`
	WeightPercent int32  `json:"weightPercent"`
}

// Autocomplete tunes suggestions.
type Autocomplete struct {
	Enabled        bool  `json:"enabled"`
	MinChars       int32 `json:"minChars"`
	MaxSuggestions int32 `json:"maxSuggestions"`
}

// Inventory is how stock is held for shoppers.
type Inventory struct {
	// ReservationTTLSeconds is how long a checkout holds stock.
	ReservationTTLSeconds int64 `json:"reservationTTLSeconds"`
	AllowBackorders       bool  `json:"allowBackorders,omitempty"`
}

// Checkout is flat tax and shipping, amounts in minor units of the first channel's
// currency.
type Checkout struct {
	TaxRateBasisPoints int32  `json:"taxRateBasisPoints"`
	TaxLabel           string `json:"taxLabel"`
	ShippingAmount     int64  `json:"shippingAmount"`
	FreeShippingOver   *int64 `json:"freeShippingOver,omitempty"`
}

// CORS lists the browser origins allowed to call the API.
type CORS struct {
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`
}

// Model is one purpose's model and how its traffic is split between versions.
type Model struct {
	// Purpose is Recommendations, Ranking or Fraud.
	Purpose string `json:"purpose"`
	// Model is the model name (ModelVersion.spec.model).
	Model string `json:"model"`
	// Experiment names the split for sticky assignment and exposure events; it
	// changes whenever the set of arms changes, so a new experiment reshuffles.
	Experiment string `json:"experiment,omitempty"`
	// StickyBy is User or Session.
	StickyBy string `json:"stickyBy,omitempty"`
	// Arms are the versions answering, with their share of requests; shadows get a
	// copy of Percent of the requests and their answers are not used.
	Arms []Arm `json:"arms,omitempty"`
}

// Arm is one ModelVersion's part of a purpose's traffic.
type Arm struct {
	ModelVersion string `json:"modelVersion"`
	// Revision is the artifact sha256 the arm's pods loaded.
	Revision string `json:"revision,omitempty"`
	// URL is the base URL of the arm's inference Service (Open Inference Protocol).
	URL string `json:"url"`
	// ModelName is the model's name on that inference service.
	ModelName string `json:"modelName"`
	Percent   int32  `json:"percent"`
	Shadow    bool   `json:"shadow,omitempty"`
	// Baseline marks the arm others are compared with and fall back to.
	Baseline bool `json:"baseline,omitempty"`
}
