-- wrk script: the load test's traffic shape (loadtest/users.py) as one request stream. Per 100
-- requests: 37 api product pages (a visitor paging from the start), 25 api products by id and 15
-- legacy ones (a tenth of each for ids that cannot exist: expected 404s), 4 + 3 brand lists, 3
-- legacy times, and the writer's create (5), read back (4) and delete (4) of its own products.
--   wrk … -s mix.lua http://127.0.0.1:8080 -- <first seeded id> <last seeded id> [bearer token] [pause ms]
-- With a pause, each connection waits a random 0 to 2 × <pause> ms before every request, so that the
-- run asks for about <connections> × 1000 / <pause> requests/s instead of as many as it can get
-- (bench/paced.py: the rate the mix sustains at a p99 bound).
-- wrk counts every 404 as an error; the expected ones (the missing ids) are printed at the end as
-- "Expected 404 responses: N" for bench/wrk.py to take off.
local first, last, token
local to_read, to_delete = {}, {}
local threads = {}
local MISSING_FIRST, MISSING_LAST = 1000000000, 2147483647

local SHARES = {
    {37, "page"}, {25, "api_product"}, {15, "legacy_product"}, {4, "api_brands"}, {3, "legacy_brands"},
    {3, "legacy_time"}, {5, "create"}, {4, "read_back"}, {4, "delete"},
}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    first, last = tonumber(args[1]), tonumber(args[2])
    token = args[3]
    local pause = tonumber(args[4] or "")
    if pause and pause > 0 then
        -- A global delay() is what makes wrk pause a connection (it looks for one after init).
        delay = function()
            return math.random() * 2 * pause
        end
    end
    expected_404 = 0
    math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

local function product_id()
    if math.random() < 0.1 then
        return math.random(MISSING_FIRST, MISSING_LAST)
    end
    return math.random(first, last)
end

local function write(method, path, body)
    local headers = {}
    if token and token ~= "" then
        headers["Authorization"] = "Bearer " .. token
    end
    if body then
        headers["Content-Type"] = "application/json"
    end
    return wrk.format(method, path, headers, body)
end

local function pick()
    local roll, sum = math.random(1, 100), 0
    for _, share in ipairs(SHARES) do
        sum = sum + share[1]
        if roll <= sum then
            return share[2]
        end
    end
end

function request()
    local kind = pick()
    if kind == "read_back" and #to_read > 0 then
        return wrk.format("GET", table.remove(to_read, 1))
    elseif kind == "delete" and #to_delete > 0 then
        return write("DELETE", table.remove(to_delete, 1))
    elseif kind == "create" then
        local body = string.format('{"product_name": "Bench mix %d", "brand_id": %d}',
            math.random(1, 1e9), math.random(1, 100))
        return write("POST", "/api/products", body)
    elseif kind == "page" then
        return wrk.format("GET", "/api/products?after=" .. 50 * math.random(0, 4))
    elseif kind == "legacy_product" then
        return wrk.format("GET", "/legacy/products/" .. product_id())
    elseif kind == "api_brands" then
        return wrk.format("GET", "/api/brands")
    elseif kind == "legacy_brands" then
        return wrk.format("GET", "/legacy/brands")
    elseif kind == "legacy_time" then
        return wrk.format("GET", "/legacy/time")
    end
    return wrk.format("GET", "/api/products/" .. product_id())
end

function response(status, headers, body)
    if status == 201 then
        local location = headers["Location"] or headers["location"]
        if location then
            table.insert(to_read, location)
        end
    elseif status == 200 then
        if body:find('"Bench mix', 1, true) then
            local id = body:match('"product_id":%s*(%d+)')
            if id and not body:find('"items"', 1, true) then
                table.insert(to_delete, "/api/products/" .. id)
            end
        end
    elseif status == 404 then
        local id = tonumber(body:match("product (%d+) does not exist") or "0")
        if id >= MISSING_FIRST then
            expected_404 = expected_404 + 1
        end
    end
end

function done(summary, latency, requests)
    local expected = 0
    for _, thread in ipairs(threads) do
        expected = expected + thread:get("expected_404")
    end
    io.write(string.format("Expected 404 responses: %d\n", expected))
end
