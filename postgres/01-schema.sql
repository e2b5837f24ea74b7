-- The catalogue. `brand` and `product` keep the exact tables and columns the classic asyncio/asyncpg
-- examples query; colours, sizes and SKUs are what a shop needs on top of them.
CREATE TABLE brand (
    brand_id   SERIAL PRIMARY KEY,
    brand_name TEXT NOT NULL UNIQUE
);

CREATE TABLE product (
    product_id   SERIAL PRIMARY KEY,
    product_name TEXT NOT NULL,
    brand_id     INT  NOT NULL REFERENCES brand (brand_id)
);
-- Serves "products of a brand" and the keyset pagination filtered by brand.
CREATE INDEX product_brand_id_product_id_idx ON product (brand_id, product_id);

CREATE TABLE product_color (
    product_color_id   SERIAL PRIMARY KEY,
    product_color_name TEXT NOT NULL UNIQUE
);

CREATE TABLE product_size (
    product_size_id   SERIAL PRIMARY KEY,
    product_size_name TEXT NOT NULL UNIQUE
);

CREATE TABLE sku (
    sku_id           SERIAL PRIMARY KEY,
    product_id       INT NOT NULL REFERENCES product (product_id) ON DELETE CASCADE,
    product_size_id  INT NOT NULL REFERENCES product_size (product_size_id),
    product_color_id INT NOT NULL REFERENCES product_color (product_color_id),
    UNIQUE (product_id, product_size_id, product_color_id)
);
CREATE INDEX sku_product_size_id_idx ON sku (product_size_id);
CREATE INDEX sku_product_color_id_idx ON sku (product_color_id);

-- Live-user counter: one row per running counter process with its own number of open sockets.
-- The deployment-wide count is the sum over rows whose heartbeat is fresh, so a process that dies
-- without cleaning up stops being counted once its heartbeat goes stale.
CREATE TABLE counter_presence (
    instance_id  TEXT        PRIMARY KEY,
    connections  INT         NOT NULL CHECK (connections >= 0),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
