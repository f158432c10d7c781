-- wrk: GET the URL as given, or with POPULATION set /v1/constituents/<a random one of the POPULATION the
-- API benchmark published>. DELAY_MS paces each connection (64 connections waiting 64 ms between
-- requests ask for about 1,000 requests/s) instead of the closed loop that finds the saturation point.
local population = tonumber(os.getenv("POPULATION") or "")
local delay_ms = tonumber(os.getenv("DELAY_MS") or "")
math.randomseed(7)
if population then
  request = function()
    return wrk.format("GET", string.format("/v1/constituents/b-%07d", math.random(0, population - 1)))
  end
end
if delay_ms then
  delay = function()
    return delay_ms
  end
end
