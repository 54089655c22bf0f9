-- GET one path (BENCH_PATH, default "/bench/plain"): the ceiling of the web scenarios.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local path = os.getenv("BENCH_PATH") or "/bench/plain"

function request()
  sent = sent + 1
  return wrk.format("GET", path)
end
