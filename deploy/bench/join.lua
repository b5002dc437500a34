-- Collects admission tokens: every request joins a passthrough room as a new
-- fan (no cookie), and each admitted response's token is appended to
-- $TOKENS_FILE until $TOKENS have been written. Run with one thread, and
-- interrupt wrk once the file is full (wrk sleeps out its -d otherwise).
wrk.method = "POST"

local want = tonumber(os.getenv("TOKENS") or "10000")
local out = assert(io.open(assert(os.getenv("TOKENS_FILE")), "a"))
out:setvbuf("line")
local got = 0

function response(status, headers, body)
   local tok = body:match('"admission_token":"([^"]+)"')
   if status == 200 and tok and got < want then
      out:write(tok, "\n")
      got = got + 1
      if got == want then
         wrk.thread:stop()
      end
   end
end
