-- Product media (apiserver/media).

-- name: CountProductImages :one
SELECT count(*) FROM product_images WHERE tenant_id = @tenant_id AND product_id = @product_id AND deleted_at IS NULL;

-- name: InsertProductImage :one
INSERT INTO product_images (tenant_id, id, product_id, prefix, url, width, height, variants, bytes)
VALUES (@tenant_id, @id, @product_id, @prefix, @url, @width, @height, @variants, @bytes)
RETURNING *;

-- name: AddProductImageURL :one
UPDATE products SET images = array_append(images, @url::text), version = version + 1, updated_at = now()
WHERE tenant_id = @tenant_id AND id = @id AND deleted_at IS NULL
RETURNING id;

-- name: RemoveProductImageURL :exec
UPDATE products SET images = array_remove(images, @url::text), version = version + 1, updated_at = now()
WHERE tenant_id = @tenant_id AND id = @id AND deleted_at IS NULL;

-- name: MarkProductImageDeleted :one
UPDATE product_images SET deleted_at = now()
WHERE tenant_id = @tenant_id AND product_id = @product_id AND id = @id AND deleted_at IS NULL
RETURNING *;

-- name: ListProductImages :many
SELECT * FROM product_images
WHERE tenant_id = @tenant_id AND product_id = @product_id AND deleted_at IS NULL
ORDER BY created_at, id;

-- ServableImage is an image whose objects may be served: neither it nor its product
-- is deleted. It names its tenant, as media URLs do.
-- name: ServableImage :one
SELECT pi.prefix, pi.variants FROM product_images pi
JOIN products p ON p.tenant_id = pi.tenant_id AND p.id = pi.product_id
WHERE pi.tenant_id = @tenant_id AND pi.id = @id AND pi.deleted_at IS NULL AND p.deleted_at IS NULL;

-- ImagesToSweep are images, of any tenant, whose objects are to be removed: deleted
-- images and the images of deleted products.
-- name: ImagesToSweep :many
SELECT pi.tenant_id, pi.id, pi.prefix FROM product_images pi
JOIN products p ON p.tenant_id = pi.tenant_id AND p.id = pi.product_id
WHERE pi.deleted_at IS NOT NULL OR p.deleted_at IS NOT NULL
ORDER BY pi.tenant_id, pi.id
LIMIT @lim;

-- name: DeleteProductImageRow :exec
DELETE FROM product_images WHERE tenant_id = @tenant_id AND id = @id;
