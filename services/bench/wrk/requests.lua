-- wrk's requests for `make bench`, chosen by environment variables:
--   TOUCHPOINTS=1  POST /v1/events with one touchpoint each (a fresh event id every time), as a source
--                  system sending its events one at a time; dated when the run starts, so none is future
--   POPULATION=N   GET /v1/constituents/<a random one of the N the API benchmark published>
--   (neither)      GET the URL as given
--   DELAY_MS=D     pace each connection: exponential waits (Poisson arrivals) of D ms on average, so that
--                  64 connections with D=64 ask for about 1,000 requests/s; without it a closed loop,
--                  which finds the saturation point
local population = tonumber(os.getenv("POPULATION") or "")
local delay_ms = tonumber(os.getenv("DELAY_MS") or "")
math.randomseed(7)

if os.getenv("TOUCHPOINTS") == "1" then
  local sent = 0
  local occurred_at = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local run = tostring(os.time())
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  request = function()
    sent = sent + 1
    local body = string.format(
      '{"event_id":"wrk-%s-%d","source":"web","type":"web.page_view","occurred_at":"%s",'
        .. '"constituent_id":"c-%05d","department":"marketing","attributes":{"url":"/donate"}}',
      run, sent, occurred_at, sent % 100000)
    return wrk.format(nil, "/v1/events", nil, body)
  end
elseif population then
  request = function()
    return wrk.format("GET", string.format("/v1/constituents/b-%07d", math.random(0, population - 1)))
  end
end

if delay_ms then
  delay = function()
    return math.floor(-delay_ms * math.log(1 - math.random()))
  end
end
