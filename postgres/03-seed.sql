-- Deterministic seed data: the same rows on every machine, so tests and benchmarks compare alike.
-- 100 brands and 1,000 products × SEED_SCALE (default 1; a benchmark may seed 100×), each product
-- with a few SKUs over real sizes and colours. Names are built from word lists by index, not random.
\getenv seed_scale SEED_SCALE
\if :{?seed_scale}
\else
    \set seed_scale 1
\endif

INSERT INTO product_size (product_size_name)
SELECT unnest(ARRAY['XS', 'S', 'M', 'L', 'XL', 'XXL']);

INSERT INTO product_color (product_color_name)
SELECT unnest(ARRAY['Black', 'White', 'Navy', 'Olive', 'Sand', 'Burgundy', 'Slate', 'Mustard']);

-- 10 × 10 word pairs: 100 distinct brand names in a fixed order.
INSERT INTO brand (brand_name)
SELECT first_word || ' ' || second_word
FROM unnest(ARRAY['Northwind', 'Alpine', 'Harbor', 'Copper', 'Juniper', 'Granite', 'Meadow',
                  'Saltwater', 'Ember', 'Lumen']) WITH ORDINALITY AS a(first_word, i)
CROSS JOIN unnest(ARRAY['Outfitters', 'Supply Co.', 'Threads', 'Goods', 'Atelier', 'Workshop',
                        'Mills', 'Collective', 'Standard', 'Trading']) WITH ORDINALITY AS b(second_word, j)
ORDER BY i, j;

INSERT INTO product (product_name, brand_id)
SELECT (ARRAY['Classic', 'Everyday', 'Heritage', 'Lightweight', 'Rugged', 'Tailored', 'Relaxed',
              'Weatherproof', 'Essential', 'Vintage', 'Merino', 'Organic'])[1 + n % 12]
       || ' ' ||
       (ARRAY['Cotton', 'Wool', 'Linen', 'Denim', 'Canvas', 'Fleece', 'Corduroy', 'Cashmere',
              'Twill'])[1 + (n / 12) % 9]
       || ' ' ||
       (ARRAY['Jacket', 'Shirt', 'Sweater', 'Trousers', 'Hoodie', 'Overshirt', 'Cardigan', 'Vest',
              'Shorts', 'Parka', 'Polo', 'Chinos', 'Scarf'])[1 + (n / 108) % 13],
       1 + (n * 37) % 100  -- spreads products over every brand, not in runs
FROM generate_series(0, 1000 * :seed_scale - 1) AS n
ORDER BY n;

-- Two to four SKUs per product: a run of sizes in one or two colours, chosen by the product's id.
INSERT INTO sku (product_id, product_size_id, product_color_id)
SELECT p.product_id, s.product_size_id, c.product_color_id
FROM product p
CROSS JOIN product_size s
CROSS JOIN product_color c
WHERE s.product_size_id BETWEEN 2 + p.product_id % 2 AND 3 + p.product_id % 2
  AND c.product_color_id IN (1 + p.product_id % 8, 1 + (p.product_id * 3 + 1) % 8)
ORDER BY p.product_id, s.product_size_id, c.product_color_id;

ANALYZE;
