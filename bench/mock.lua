-- POST to the mock provider's Twilio endpoint as our Twilio adapter does: its raw rate
-- is the ceiling of the dispatch scenario. Env: BENCH_TWILIO_PATH.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local path = os.getenv("BENCH_TWILIO_PATH") or "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json"
local headers = {
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Authorization"] = "Basic QUMwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDpzZWNyZXQ=",
  ["Accept"] = "application/json",
}

function request()
  sent = sent + 1
  local n = (sent * nthreads + tid) % 10000
  local body = string.format(
    "To=%%2B1415555%04d&From=%%2B15005550006&Body=Bench+message+%d" ..
    "&StatusCallback=http%%3A%%2F%%2F127.0.0.1%%2Fwebhooks%%2Ftwilio%%2Fx%%2F", n, sent)
  return wrk.format("POST", path, headers, body)
end
