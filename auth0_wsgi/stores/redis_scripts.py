"""The Lua scripts the Redis store runs. Each touches one key, so that a Redis Cluster runs it on
the master of that key's slot; what must happen to several keys happens in several scripts, in an
order that stays safe between them (``RedisBackend.write``).
"""

# Compare-and-set of a record: write only when its version is the one the writer read. One key per
# script, so that a Redis Cluster runs it wherever the key's slot lives.
WRITE = """
local current = redis.call('HGET', KEYS[1], 'v')
if (ARGV[1] == '' and current) or (ARGV[1] ~= '' and current ~= ARGV[1]) then return 0 end
local version = tonumber(ARGV[1] ~= '' and ARGV[1] or '0') + 1
redis.call('HSET', KEYS[1], 'v', version, 'd', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return version
"""
# An index (sid or sub) holds the record keys of several logins, each scored with when its record may
# expire by Redis' clock (TIME): members whose record has expired are dropped at each write, so the
# index holds the sessions that may still live, not every login ever made. A member's score and the
# set's TTL only grow (an older session's write never shortens them; EXPIRE ... GT would leave a new
# set without any TTL). A plain set written by an earlier version is converted in place.
INDEX = """
redis.replicate_commands()
local now = tonumber(redis.call('TIME')[1])
local ttl = redis.call('TTL', KEYS[1])
if redis.call('TYPE', KEYS[1]).ok == 'set' then
  local old = redis.call('SMEMBERS', KEYS[1])
  redis.call('DEL', KEYS[1])
  for _, member in ipairs(old) do redis.call('ZADD', KEYS[1], now + math.max(ttl, 1), member) end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
local until_ = now + tonumber(ARGV[2]) + 1
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) < until_ then redis.call('ZADD', KEYS[1], until_, ARGV[1]) end
if ttl < tonumber(ARGV[3]) then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return 1
"""
MEMBERS = """
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'zset' then return redis.call('ZRANGE', KEYS[1], 0, -1) end
if kind == 'set' then return redis.call('SMEMBERS', KEYS[1]) end
return {}
"""
# Release a lock only if we still hold it (its lease may have run out and passed to another).
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Extend a lock's lease only if we still hold it.
EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
