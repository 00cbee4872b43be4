-- SPDX-License-Identifier: ISC
-- wrk script: POST /tiktok, each request for a different post (cache
-- miss) unless HIT is set in the environment (then always the same post).
local hit = os.getenv("HIT")
local run = os.getenv("RUN") or "0"
local counter = 0
local nthreads = 0

-- Runs in the main Lua state; sets the global "tid" in each thread's.
function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end

function init(args)
  counter = 0
end

function request()
  counter = counter + 1
  local id
  if hit then
    id = "7300000000000000002"
  else
    id = string.format("9%s%03d%010d", run, tid or 0, counter)
  end
  local body = '{"url":"https://www.tiktok.com/@ok/video/' .. id .. '"}'
  return wrk.format("POST", "/tiktok",
    {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.1f p99_ms=%.1f " ..
    "errors_status=%d errors_timeout=%d errors_connect=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.timeout,
    summary.errors.connect, summary.requests))
end
