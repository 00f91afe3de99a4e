-- Images operators upload for their products. Product-order serves each at
-- /api/products/{id}/images/{sha256}: the address changes with the content, so browsers may
-- keep an image for good. A product shows at most one uploaded image (`products.image_sha256`);
-- replacing or removing it deletes the old one.
CREATE TABLE product_images (
    product_id   uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    -- Hex SHA-256 of `bytes`.
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    -- Found from the bytes themselves, never taken from the uploader.
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    bytes        bytea NOT NULL,
    -- The operator's customer id (from their token).
    uploaded_by  uuid NOT NULL,
    uploaded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (product_id, sha256)
);
-- JPEG, PNG and WebP are compressed already: store them out of line without trying again.
ALTER TABLE product_images ALTER COLUMN bytes SET STORAGE EXTERNAL;

ALTER TABLE products
    ADD COLUMN image_sha256 text,
    ADD CONSTRAINT products_image_fkey FOREIGN KEY (id, image_sha256)
        REFERENCES product_images (product_id, sha256);
