-- wrk: print one parseable line with latency percentiles (milliseconds) and request counts.
local M = {}

function M.done(summary, latency, requests)
  local errors = summary.errors
  local bad = errors.connect + errors.read + errors.write + errors.timeout + errors.status
  io.write(string.format("WRKRESULT rps=%.0f p50=%.2f p99=%.2f p999=%.2f requests=%d non2xx_or_errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    summary.requests, bad))
end

return M
