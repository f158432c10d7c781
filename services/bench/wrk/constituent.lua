-- wrk: GET /v1/constituents/<a random one of the POPULATION the API benchmark published>
local population = tonumber(os.getenv("POPULATION"))
math.randomseed(7)
request = function()
  return wrk.format("GET", string.format("/v1/constituents/b-%07d", math.random(0, population - 1)))
end
