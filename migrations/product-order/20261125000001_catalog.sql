-- The catalog: products, their stock and every stock change an operator made.

CREATE TABLE products (
    id          uuid PRIMARY KEY,
    sku         text NOT NULL,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    -- Minor units (cents) of `currency`.
    price       bigint NOT NULL CHECK (price >= 0),
    currency    char(3) NOT NULL,
    -- Stock on hand; never negative, so stock is never oversold.
    stock       integer NOT NULL CHECK (stock >= 0),
    image_url   text,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- What search looks in: the SKU and name weigh more than the description.
    search      tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', sku || ' ' || translate(sku, '-_./', '    ')), 'A') ||
        setweight(to_tsvector('simple', name), 'A') ||
        setweight(to_tsvector('simple', description), 'B')
    ) STORED,
    CONSTRAINT products_sku_key UNIQUE (sku)
);

-- Keyset pagination in both orders, for shoppers (active only) and operators (all).
CREATE INDEX products_active_newest_idx ON products (created_at DESC, id DESC) WHERE active;
CREATE INDEX products_active_name_idx ON products (name, id) WHERE active;
CREATE INDEX products_newest_idx ON products (created_at DESC, id DESC);
CREATE INDEX products_name_idx ON products (name, id);
CREATE INDEX products_search_idx ON products USING gin (search);

CREATE TABLE stock_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id  uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    -- The operator's customer id (from their token).
    changed_by  uuid NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    stock_from  integer NOT NULL,
    stock_to    integer NOT NULL,
    reason      text NOT NULL
);
CREATE INDEX stock_changes_product_id_idx ON stock_changes (product_id, changed_at DESC);

-- Carts: one per signed-in customer ('customer:<id>') or guest ('guest:<sha256 of its token>').
CREATE TABLE cart_items (
    owner       text NOT NULL,
    product_id  uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    quantity    integer NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    added_at    timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, product_id)
);
