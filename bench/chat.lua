-- wrk script: POST one chat body and print the run's figures as one JSON line at the end.
-- The body and an optional bearer key come from the environment (BENCH_BODY, BENCH_KEY),
-- so one script serves the direct, gateway and LiteLLM targets alike.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
-- BENCH_CONNECTION=close: a new connection for every request (wrk reconnects after each).
local connection = os.getenv("BENCH_CONNECTION")
if connection and connection ~= "" then
  wrk.headers["Connection"] = connection
end
local key = os.getenv("BENCH_KEY")
if key and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
