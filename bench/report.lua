-- Shared by the bench's wrk scripts (loaded with dofile): counts statuses per
-- thread and prints one machine-readable line at the end:
--   BENCH_JSON {"requests": ..., "latency_us": {...}, "statuses": {...}, ...}
-- Each thread gets `tid` (0-based, set by setup() before its init()) and
-- `nthreads` (BENCH_THREADS: the -t given to wrk).

local threads = {}
statuses = {}
sent = 0
tid = 0
nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

local function encode(value)
  if type(value) == "table" then
    local parts = {}
    for k, v in pairs(value) do
      table.insert(parts, string.format('"%s":%s', tostring(k), encode(v)))
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif type(value) == "number" then
    return string.format("%.17g", value)
  elseif value == nil then
    return "null"
  else
    return string.format('"%s"', tostring(value))
  end
end

function done(summary, latency, requests)
  local all = {}
  local total_sent = 0
  for _, t in ipairs(threads) do
    local s = t:get("statuses") or {}
    for code, n in pairs(s) do
      all[tostring(code)] = (all[tostring(code)] or 0) + n
    end
    total_sent = total_sent + (t:get("sent") or 0)
  end
  local out = {
    requests = summary.requests,
    duration_us = summary.duration,
    bytes = summary.bytes,
    errors = summary.errors,
    statuses = all,
    sent = total_sent,
    latency_us = {
      p50 = latency:percentile(50),
      p90 = latency:percentile(90),
      p99 = latency:percentile(99),
      p999 = latency:percentile(99.9),
      mean = latency.mean,
      max = latency.max,
    },
  }
  io.write("BENCH_JSON " .. encode(out) .. "\n")
end
