-- wrk: POST one touchpoint per request, each with a fresh event id, as a source system sending its
-- events one at a time. Dated when the run starts, so none is refused as future.
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
