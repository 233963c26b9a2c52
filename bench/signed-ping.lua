-- wrk: signed GET /v1/ping requests (docs/PROTOCOL.md, "Signing"), signed by bench/signing.lua.
-- Every request gets a fresh nonce and the current time, so the service's replay check passes.
local signing = dofile(os.getenv("BENCH_LUA_DIR") .. "/signing.lua")

local counter = 0

function setup(thread)
  -- Each thread gets its own id so nonces never collide between threads.
  thread:set("thread_tag", tostring(thread))
end

local thread_part = nil

request = function()
  counter = counter + 1
  if not thread_part then thread_part = (thread_tag or "0"):gsub("[^%w]", ""):sub(-8) .. "-" end
  return signing.request("GET", "/v1/ping", nil, thread_part, counter)
end

done = dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua").done
