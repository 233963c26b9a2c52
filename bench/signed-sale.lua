-- wrk: signed sales, each a POST /v1/orders and then a POST /v1/orders/{no}/pay with a payment code the
-- sandbox pays at once (docs/SANDBOX.md). Run with as many connections as threads (-t N -c N): each
-- thread's one connection is one terminal doing one sale after another. Prints a WRKRESULT line whose
-- rps is sales per second; latency percentiles are wrk's, per request.
local signing = dofile(os.getenv("BENCH_LUA_DIR") .. "/signing.lua")

local threads = {}
local next_thread_no = 0

function setup(thread)
  thread:set("thread_tag", tostring(thread))
  thread:set("thread_no", next_thread_no)
  next_thread_no = next_thread_no + 1
  table.insert(threads, thread)
end

counter = 0
sales = 0
failed = 0
local order = nil
local sent = nil
local thread_part = nil
local code_prefix = nil

request = function()
  counter = counter + 1
  if not thread_part then
    thread_part = (thread_tag or "0"):gsub("[^%w]", ""):sub(-8) .. "-"
    -- 18 digits: 99 first (the sandbox channel), 0 last (paid at once), unique per run, thread and sale.
    code_prefix = string.format("99%05d%02d", math.random(0, 99999), (thread_no or 0) % 100)
  end
  if order then
    sent = "pay"
    local body = string.format('{"payment_code":"%s%08d0"}', code_prefix, counter % 100000000)
    return signing.request("POST", "/v1/orders/" .. order .. "/pay", body, thread_part, counter)
  end
  sent = "create"
  return signing.request("POST", "/v1/orders", '{"amount":1234}', thread_part, counter)
end

response = function(status, headers, body)
  if sent == "create" then
    order = status == 201 and body:match('"order_no":"(%d+)"') or nil
    if not order then failed = failed + 1 end
  elseif sent == "pay" then
    if status == 200 and body:find('"status":"paid"', 1, true) then sales = sales + 1 else failed = failed + 1 end
    order = nil
  end
end

function done(summary, latency, requests)
  local total_sales, total_failed = 0, 0
  for _, thread in ipairs(threads) do
    total_sales = total_sales + thread:get("sales")
    total_failed = total_failed + thread:get("failed")
  end
  local errors = summary.errors
  local bad = errors.connect + errors.read + errors.write + errors.timeout + errors.status + total_failed
  io.write(string.format("WRKRESULT rps=%.0f p50=%.2f p99=%.2f p999=%.2f requests=%d non2xx_or_errors=%d\n",
    total_sales / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    summary.requests, bad))
end
