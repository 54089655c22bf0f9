-- Signed provider callbacks, each for a different message, read from a file the
-- bench wrote beforehand (BENCH_WEBHOOK_FILE), one request per line:
--   path <TAB> content-type <TAB> signature header <TAB> signature <TAB> body
-- Thread t sends lines t, t+n, t+2n, ... once each, then stops.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local mine = {}
local index = 0

function init(args)
  local i = 0
  for line in io.lines(os.getenv("BENCH_WEBHOOK_FILE")) do
    if i % nthreads == tid then
      local path, ctype, hname, hvalue, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = { ["Content-Type"] = ctype }
      headers[hname] = hvalue
      table.insert(mine, wrk.format("POST", path, headers, body))
    end
    i = i + 1
  end
end

function request()
  if index >= #mine then
    -- Every line of this thread went out: stop. The few connections still
    -- open repeat the last callback, which the intake stores as a repeat.
    wrk.thread:stop()
    return mine[#mine]
  end
  index = index + 1
  sent = index
  return mine[index]
end
