package throttle

import "github.com/redis/go-redis/v9"

// Redis layout, per provider p (all keys share the hash tag {p}, so the
// scripts also run on Redis Cluster):
//
//	<prefix>{p}:tat          booked-until: end of the last booking, unix µs
//	<prefix>{p}:pause        operator pause: the reason (no expiry)
//	<prefix>{p}:hold         429 pause: until, unix µs
//	<prefix>{p}:n429         consecutive 429 count
//	<prefix>{p}:stats        hash of counters: granted, snoozed, booked, claimed, rate_limited
//	<prefix>{p}:breaker      hash: last published breaker transition
//	<prefix>{p}:booking:<k>  a slot booked by the task with Call.Key k, unix µs
//
// Times come from the caller's clock (so tests can drive it) and are
// compared as values; Redis expiries only collect garbage.
type keys struct {
	tat, pause, hold, n429, stats, breaker, bookingPrefix string
}

func newKeys(prefix, provider string) keys {
	base := prefix + "{" + provider + "}:"
	return keys{
		tat: base + "tat", pause: base + "pause", hold: base + "hold", n429: base + "n429",
		stats: base + "stats", breaker: base + "breaker", bookingPrefix: base + "booking:",
	}
}

// Replies of acquireScript: {code, time µs, consecutive 429s, reason}.
const (
	acqGranted  = 0 // run at time (now or within MaxSleep)
	acqPaused   = 1 // operator pause; reason in the 4th field
	acqHeld     = 2 // 429 pause until time
	acqAhead    = 3 // this task's booking is still more than MaxSleep away, at time
	acqClaimed  = 4 // this task's booking is used: run at time
	acqBulkFull = 5 // bulk lane: nothing booked; capacity expected at time
	acqBooked   = 6 // booked a slot at time, beyond MaxSleep: snooze to it
)

// acquireScript is the whole admission decision in one round trip: pause,
// 429 hold, claim of an earlier booking, then GCRA booking.
//
// GCRA with booking instead of rejection: tat is the end of the booked
// time. A call of cost c starts at max(now, tat - (Burst-1)·T) and pushes
// tat to max(tat, now) + c·T, so a heavy call goes at once and the calls
// after it wait for its cost (slot = max(now, last + cost/rate) when
// Burst is 1). A bulk call books only if
// a unit call booked right after it would still start within the horizon
// (or, for a bulk call longer than the horizon, only when nothing is
// queued), so transactional calls never wait behind much campaign traffic.
//
// KEYS: tat, pause, hold, n429, stats, booking
// ARGV: now, T, burst, cost, bulk(0|1), horizon, maxSleep, hasKey(0|1),
// claimWindow (all times in µs).
var acquireScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local function ms(us) return string.format('%.0f', math.ceil(us / 1000) + 60000) end
local reason = redis.call('GET', KEYS[2])
if reason then
  redis.call('HINCRBY', KEYS[5], 'snoozed', 1)
  return {1, 0, 0, reason}
end
local hold = tonumber(redis.call('GET', KEYS[3]) or '0')
if hold > now then
  redis.call('HINCRBY', KEYS[5], 'snoozed', 1)
  return {2, hold, 0}
end
local n429 = tonumber(redis.call('GET', KEYS[4]) or '0')
local T = tonumber(ARGV[2])
if T <= 0 then
  redis.call('HINCRBY', KEYS[5], 'granted', 1)
  return {0, now, n429}
end
local maxSleep = tonumber(ARGV[7])
local hasKey = ARGV[8] == '1'
if hasKey then
  local b = redis.call('GET', KEYS[6])
  if b then
    b = tonumber(b)
    if b - now > maxSleep then
      redis.call('HINCRBY', KEYS[5], 'snoozed', 1)
      return {3, b, n429}
    end
    redis.call('DEL', KEYS[6])
    if now - b <= tonumber(ARGV[9]) then
      redis.call('HINCRBY', KEYS[5], 'granted', 1)
      redis.call('HINCRBY', KEYS[5], 'claimed', 1)
      return {4, b, n429}
    end
  end
end
local burst = tonumber(ARGV[3])
local span = tonumber(ARGV[4]) * T
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local newTat = tat + span
if ARGV[5] == '1' then
  local room = tonumber(ARGV[6])
  if span > room then room = span end
  local reach = newTat - (burst - 1) * T
  if reach - now > room then
    redis.call('HINCRBY', KEYS[5], 'snoozed', 1)
    return {5, reach - room, n429}
  end
end
local slot = tat - (burst - 1) * T
if slot < now then slot = now end
redis.call('SET', KEYS[1], string.format('%.0f', newTat), 'PX', ms(newTat - now))
redis.call('HINCRBY', KEYS[5], 'booked', 1)
if slot - now > maxSleep then
  if hasKey then
    redis.call('SET', KEYS[6], string.format('%.0f', slot), 'PX', ms(slot - now + tonumber(ARGV[9])))
  end
  redis.call('HINCRBY', KEYS[5], 'snoozed', 1)
  return {6, slot, n429}
end
redis.call('HINCRBY', KEYS[5], 'granted', 1)
return {0, slot, n429}
`)

// holdScript records a 429 for every worker: it pauses the provider until
// now+wait (never shortening a longer pause) and counts consecutive 429s.
// 429s that arrive while a pause is already in force were sent before it
// started, so they do not escalate the count. With retryAfter 0 the wait
// is base·2^(n-1), capped, with "equal jitter" (half fixed, half random,
// from ARGV[6] in [0,1)).
//
// KEYS: hold, n429, stats
// ARGV: now, retryAfter, base, max, n429 TTL ms, jitter (times in µs)
// Reply: {until, n429}
var holdScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local hold = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = tonumber(redis.call('GET', KEYS[2]) or '0')
if hold <= now then
  n = n + 1
  redis.call('SET', KEYS[2], n, 'PX', ARGV[5])
end
local wait = tonumber(ARGV[2])
if wait <= 0 then
  local d = tonumber(ARGV[3])
  local cap = tonumber(ARGV[4])
  for i = 2, n do
    if d >= cap then break end
    d = d * 2
  end
  if d > cap then d = cap end
  wait = d / 2 + tonumber(ARGV[6]) * d / 2
end
local untilT = math.floor(now + wait)
if untilT > hold then
  redis.call('SET', KEYS[1], string.format('%.0f', untilT), 'PX', string.format('%.0f', math.ceil(wait / 1000) + 60000))
  hold = untilT
end
redis.call('HINCRBY', KEYS[3], 'rate_limited', 1)
return {hold, n}
`)

// recoverScript takes one off the consecutive 429 count after a success,
// so the adaptive back-off relaxes step by step rather than all at once.
//
// KEYS: n429
var recoverScript = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n <= 1 then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('SET', KEYS[1], n - 1, 'KEEPTTL')
return n - 1
`)
