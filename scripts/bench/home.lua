-- wrk script of the Home benchmarks: each request is signed as a random customer.
--
--   HOME_TOKENS=var/bench/home_tokens.txt HOME_BODY=/tmp/body.json \
--     wrk -t2 -c16 -d15s -s scripts/bench/home.lua http://127.0.0.1:8765/graphql
--
-- HOME_TOKENS: a file of "customer_id token" lines (home_data.py writes it).
-- HOME_BODY: a file holding the JSON body to POST (the document under test).
-- HOME_PACE_MS: when set, each connection waits a random 0 to 2 x HOME_PACE_MS
--   milliseconds between its requests (clients that pause, rather than saturate).
-- done() prints one JSON line starting with "HOME_RESULT " for home_load.py to read.

local tokens = {}
local body = ""
local counter = 0
local pace = tonumber(os.getenv("HOME_PACE_MS") or "0") or 0

local function read_file(path)
  local f = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
  local text = f:read("*a")
  f:close()
  return text
end

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  for line in io.lines(os.getenv("HOME_TOKENS")) do
    local token = line:match("^%d+ (%S+)")
    if token then
      tokens[#tokens + 1] = token
    end
  end
  body = read_file(os.getenv("HOME_BODY"))
  -- Each thread draws its own sequence of customers.
  math.randomseed(os.time() * 1000 + (id or 0))
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

function delay()
  if pace > 0 then
    return math.random(0, 2 * pace)
  end
  return 0
end

function request()
  wrk.headers["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]
  return wrk.format()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'HOME_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"max_us":%d,"mean_us":%.1f,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
