-- wrk script: GET /api/cities/<random id in 1..MAX_ID>, MAX_ID from the environment (default 30000).
local max_id = tonumber(os.getenv("MAX_ID") or "30000")
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/cities/" .. math.random(1, max_id))
end
