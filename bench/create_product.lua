-- wrk script: POST <path> creating a product with a fresh name and a random seeded brand.
--   wrk … -s create_product.lua http://127.0.0.1:8080 -- /api/products [bearer token]
local path, headers
local created = 0

function init(args)
    path = args[1]
    headers = {["Content-Type"] = "application/json"}
    if args[2] and args[2] ~= "" then
        headers["Authorization"] = "Bearer " .. args[2]
    end
    math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
    created = created + 1
    local body = string.format('{"product_name": "Bench %d-%d", "brand_id": %d}',
        math.random(1, 1e9), created, math.random(1, 100))
    return wrk.format("POST", path, headers, body)
end
