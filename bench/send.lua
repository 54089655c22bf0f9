-- POST /api/v1/messages: one SMS per request, each to another +1415555xxxx number.
-- Env: BENCH_TOKENS, API key secrets separated by commas; requests take them in
-- turn, so each key stays far below the per-key throttle (API_THROTTLE_RATE).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local headers = {}
for token in string.gmatch(os.getenv("BENCH_TOKENS") or "", "[^,]+") do
  table.insert(headers, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Token " .. token,
  })
end

function request()
  sent = sent + 1
  local n = (sent * nthreads + tid) % 10000
  local body = string.format('{"to":"+1415555%04d","body":"Your Jood bench code is %d"}', n, sent)
  return wrk.format("POST", "/api/v1/messages", headers[(n % #headers) + 1], body)
end
