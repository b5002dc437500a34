-- Cycles through prebuilt requests, one per admitted visitor, each with its
-- own "Authorization: Bearer <admission token>" from $TOKENS_FILE, for the
-- path given in the URL. Prints one summary line for the script to collect.
local reqs = {}
local i = 0

function init(args)
   local path = wrk.path
   for tok in io.lines(assert(os.getenv("TOKENS_FILE"))) do
      reqs[#reqs + 1] = wrk.format("GET", path, { Authorization = "Bearer " .. tok })
   end
   assert(#reqs > 0, "no tokens")
   math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 1000)
   i = math.random(#reqs) -- threads start at different visitors
end

function request()
   i = i % #reqs + 1
   return reqs[i]
end

function done(summary, latency, requests)
   io.write(string.format("RESULT requests_per_s=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f requests=%d non2xx=%d socket_errors=%d\n",
      summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000,
      summary.requests, summary.errors.status,
      summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
