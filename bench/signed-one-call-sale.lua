-- wrk: signed one-call sales (docs/PROTOCOL.md, "Selling in one call"): each a POST /v1/sales with a
-- number the terminal holds and a payment code the sandbox pays at once; the answer brings the number
-- for a later sale ("reserve": 1). A thread with no number asks POST /v1/order-numbers first, as a
-- terminal with an empty journal does. Works with several connections per thread (answers are told
-- apart by their bodies). Prints a WRKRESULT line whose rps is paid sales per second; latency
-- percentiles are wrk's, per request.
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
local numbers = {}
local thread_part = nil
local code_prefix = nil

request = function()
  counter = counter + 1
  if not thread_part then
    thread_part = (thread_tag or "0"):gsub("[^%w]", ""):sub(-8) .. "-"
    -- 18 digits: 99 first (the sandbox channel), 0 last (paid at once), unique per run, thread and sale.
    code_prefix = string.format("99%05d%02d", math.random(0, 99999), (thread_no or 0) % 100)
  end
  local number = table.remove(numbers)
  if not number then
    return signing.request("POST", "/v1/order-numbers", '{"count":4}', thread_part, counter)
  end
  local body = string.format('{"order_no":"%s","amount":1234,"payment_code":"%s%08d0","reserve":1}',
    number, code_prefix, counter % 100000000)
  return signing.request("POST", "/v1/sales", body, thread_part, counter)
end

response = function(status, headers, body)
  local list = body:match('"order_numbers":%[([^%]]*)%]')
  if list then
    for n in list:gmatch('"(%d+)"') do table.insert(numbers, n) end
  end
  if body:find('"valid_until"', 1, true) then
    if status ~= 200 then failed = failed + 1 end
    return
  end
  if (status == 201 or status == 200) and body:find('"status":"paid"', 1, true) then sales = sales + 1 else failed = failed + 1 end
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
