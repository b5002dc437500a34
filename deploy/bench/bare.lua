-- Bare joins (no body), each from an address of its own in 198.18.0.0/15
-- (X-Forwarded-For: run the gateway with --trusted-proxies 127.0.0.1/32),
-- two wrk threads (-t2) taking every other address: the join that
-- challenge.sh compares the solved join with.
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
end

local n = 0

function request()
   local line = 2 * n + id
   n = n + 1
   local a = string.format("198.%d.%d.%d", 18 + math.floor(line / 65536) % 2, math.floor(line / 256) % 256, line % 256)
   return wrk.format("POST", wrk.path, { ["X-Forwarded-For"] = a })
end

function done(summary, latency, requests)
   io.write(string.format("RESULT requests=%d duration_s=%.2f requests_per_s=%.0f p50_ms=%.2f p99_ms=%.2f non2xx=%d\n",
      summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status))
end
