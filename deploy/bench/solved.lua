-- Sends the solved joins that `crowdload joins -mode capacity -dump FILE`
-- wrote to $SOLVED_FILE (one body a line), each once and each from an
-- address of its own (X-Forwarded-For in 198.18.0.0/15: run the gateway
-- with --trusted-proxies 127.0.0.1/32), the lines shared between two wrk
-- threads (-t2). Give more lines than wrk's -d can send: a line sent twice
-- is a used challenge (400, counted in non2xx). The places made are the
-- room's line; challenge.sh divides them by the duration.
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
end

local reqs, i = {}, 0

function init(args)
   local line = 0
   for body in io.lines(assert(os.getenv("SOLVED_FILE"))) do
      if line % 2 == id then
         local a = string.format("198.%d.%d.%d", 18 + math.floor(line / 65536), math.floor(line / 256) % 256, line % 256)
         reqs[#reqs + 1] = wrk.format("POST", wrk.path, { ["Content-Type"] = "application/json", ["X-Forwarded-For"] = a }, body)
      end
      line = line + 1
   end
   assert(#reqs > 0, "no solved joins")
end

function request()
   i = i % #reqs + 1
   return reqs[i]
end

function done(summary, latency, requests)
   io.write(string.format("RESULT requests=%d duration_s=%.2f requests_per_s=%.0f p50_ms=%.2f p99_ms=%.2f non2xx=%d\n",
      summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status))
end
