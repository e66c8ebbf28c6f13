"""The Lua scripts of the Redis backend: each is one atomic step, timed by the server's clock.

Redis runs a script to the end before any other command, so a check and the write
that follows it cannot be split by another worker (no overshoot between check and
settle). Times come from ``TIME`` on the server, so machines' clocks need not agree.
"""

from __future__ import annotations

__all__ = ["ADMIT", "BREAKER_CLAIM", "BREAKER_RECORD", "BREAKER_VIEW", "LEASE", "RESERVE", "SETTLE", "TAKE"]

_NOW = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: breaker hash, probe key. ARGV: cooldown ms, probe ttl ms, probe token.
# -> {"closed"} | {"probe"} | {"refused"}
BREAKER_CLAIM = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'state') ~= 'open' then return 'closed' end
local opened = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0')
if now - opened < tonumber(ARGV[1]) then return 'refused' end
if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', tonumber(ARGV[2])) then return 'probe' end
return 'refused'
"""
)

# KEYS: breaker hash, probe key. ARGV: failed (1/0), threshold, was a probe (1/0).
# -> {state, consecutive failures, opened now (1/0)}
BREAKER_RECORD = (
    _NOW
    + """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if ARGV[3] == '1' then redis.call('DEL', KEYS[2]) end
if ARGV[1] == '0' then
  redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0)
  return {'closed', 0, 0}
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if state == 'open' then
  if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'opened_at', now) end
  return {'open', failures, 0}
end
if failures >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', now)
  redis.call('HINCRBY', KEYS[1], 'opened', 1)
  return {'open', failures, 1}
end
return {'closed', failures, 0}
"""
)

# KEYS: breaker hash, probe key. ARGV: cooldown ms. -> {state, failures, probing (1/0)}
BREAKER_VIEW = (
    _NOW
    + """
local h = redis.call('HMGET', KEYS[1], 'state', 'failures', 'opened_at')
local failures = tonumber(h[2] or '0')
if h[1] ~= 'open' then return {'closed', failures, 0} end
local probing = redis.call('EXISTS', KEYS[2])
if now - tonumber(h[3] or '0') < tonumber(ARGV[1]) then return {'open', failures, probing} end
return {'half_open', failures, probing}
"""
)

# Budgets. Per account i: KEYS[i] a hash {calls, cost, rcalls, rcost}; its reservations are
# KEYS[i]..':res' (a zset of ids by expiry) and KEYS[i]..':resv' (id -> "calls cost").
# ARGV: id, ttl ms, calls, cost, day ttl s, then per account max_calls, max_cost ('-' for none).
# Expired reservations (a crashed worker's) are reaped first, a few at a time.
# -> {0} fits and is held | {i, calls, cost, rcalls} account i refuses
RESERVE = (
    _NOW
    + """
local calls, cost = tonumber(ARGV[3]), tonumber(ARGV[4])
for i, key in ipairs(KEYS) do
  local expired = redis.call('ZRANGEBYSCORE', key .. ':res', '-inf', now, 'LIMIT', 0, 16)
  for _, id in ipairs(expired) do
    local held = redis.call('HGET', key .. ':resv', id)
    if held then
      local c, usd = string.match(held, '(%S+) (%S+)')
      redis.call('HINCRBY', key, 'rcalls', -tonumber(c))
      redis.call('HINCRBYFLOAT', key, 'rcost', -tonumber(usd))
      redis.call('HDEL', key .. ':resv', id)
    end
    redis.call('ZREM', key .. ':res', id)
  end
end
for i, key in ipairs(KEYS) do
  local h = redis.call('HMGET', key, 'calls', 'cost', 'rcalls', 'rcost')
  local used, spent = tonumber(h[1] or '0'), tonumber(h[2] or '0')
  local rcalls, rcost = tonumber(h[3] or '0'), tonumber(h[4] or '0')
  local max_calls, max_cost = ARGV[4 + 2 * i], ARGV[5 + 2 * i]
  local over = max_calls ~= '-' and used + rcalls + calls > tonumber(max_calls)
  if max_cost ~= '-' then
    local limit = tonumber(max_cost)
    over = over or spent + rcost >= limit or spent + rcost + cost > limit
  end
  if over then return {i, used, tostring(spent + rcost), rcalls} end
end
for _, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, 'rcalls', calls)
  redis.call('HINCRBYFLOAT', key, 'rcost', cost)
  redis.call('ZADD', key .. ':res', now + tonumber(ARGV[2]), ARGV[1])
  redis.call('HSET', key .. ':resv', ARGV[1], ARGV[3] .. ' ' .. ARGV[4])
  for _, k in ipairs({key, key .. ':res', key .. ':resv'}) do redis.call('EXPIRE', k, tonumber(ARGV[5])) end
end
return {0}
"""
)

# KEYS: the accounts' hashes. ARGV: id, spent (1/0), actual cost. Releases the hold, charges if spent.
SETTLE = """
for _, key in ipairs(KEYS) do
  local held = redis.call('HGET', key .. ':resv', ARGV[1])
  if held then
    local c, usd = string.match(held, '(%S+) (%S+)')
    redis.call('HINCRBY', key, 'rcalls', -tonumber(c))
    redis.call('HINCRBYFLOAT', key, 'rcost', -tonumber(usd))
    redis.call('HDEL', key .. ':resv', ARGV[1])
    redis.call('ZREM', key .. ':res', ARGV[1])
  end
  if ARGV[2] == '1' then
    redis.call('HINCRBY', key, 'calls', 1)
    redis.call('HINCRBYFLOAT', key, 'cost', tonumber(ARGV[3]))
  end
end
return 1
"""

# A sliding window: at most ARGV[1] admissions in any ARGV[2] ms. KEYS: a zset of admissions.
# ARGV[3]: a unique id. -> 0 admitted | ms until the oldest admission leaves the window
ADMIT = (
    _NOW
    + """
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""
)

# A token bucket. KEYS: a hash {tokens, at}. ARGV: capacity, tokens per ms, amount, force (1/0).
# -> 0 taken | ms until enough tokens are back
TAKE = (
    _NOW
    + """
local capacity, rate, amount = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local h = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(h[1] or ARGV[1])
tokens = math.min(capacity, tokens + (now - tonumber(h[2] or now)) * rate)
local need = math.min(amount, capacity)
local ttl = math.ceil(capacity / rate) + 1000
if ARGV[4] == '1' or amount <= 0 or tokens >= need then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - amount), 'at', now)
  redis.call('PEXPIRE', KEYS[1], ttl)
  return 0
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], ttl)
return math.max(1, math.ceil((need - tokens) / rate))
"""
)

# Concurrency leases. KEYS: a zset of lease ids by expiry. ARGV: limit, ttl ms, id. -> 1 | 0
LEASE = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
  return 1
end
return 0
"""
)
