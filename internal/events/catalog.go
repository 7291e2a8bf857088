package events

import "time"

// Product is the data of product.* events: the whole product as it is after the
// change, so a consumer never needs to read the database. Version grows by one on
// every write of the product and is the external version of its search document.
type Product struct {
	ID          string            `json:"id"`
	Version     int64             `json:"version"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Status      string            `json:"status"` // draft | published
	Deleted     bool              `json:"deleted"`
	CategoryIDs []string          `json:"category_ids"`
	Attributes  map[string]string `json:"attributes"`
	Images      []string          `json:"images"`
	Variants    []Variant         `json:"variants"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

// Variant is one sellable SKU of a product.
type Variant struct {
	SKU        string            `json:"sku"`
	Attributes map[string]string `json:"attributes"`
	Prices     []Price           `json:"prices"`
}

// Price is an amount in minor units (cents) of a currency (ISO 4217).
type Price struct {
	Currency string `json:"currency"`
	Amount   int64  `json:"amount"`
}

// Stock is the data of stock.changed events: availability of one SKU summed over
// warehouses after the change. Version grows with every change of that SKU's stock.
type Stock struct {
	SKU       string `json:"sku"`
	ProductID string `json:"product_id"`
	Available int64  `json:"available"`
	Version   int64  `json:"version"`
}

// Category is the data of category.* events: the whole category after the change.
type Category struct {
	ID        string    `json:"id"`
	ParentID  *string   `json:"parent_id"` // null for a root category
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}
