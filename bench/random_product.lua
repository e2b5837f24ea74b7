-- wrk script: GET <prefix><id> with a random id in [first, last] on every request.
--   wrk … -s random_product.lua http://127.0.0.1:8080 -- /api/products/ 1 1000
local prefix, first, last

function init(args)
    prefix = args[1]
    first = tonumber(args[2])
    last = tonumber(args[3])
    math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
    return wrk.format("GET", prefix .. math.random(first, last))
end
