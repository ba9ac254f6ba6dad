package campaign

import (
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// luaStateNames is the Lua table literal of recipient state names, indexed
// by code+1.
func luaStateNames() string {
	q := make([]string, numRecipientStates)
	for i, s := range RecipientStates() {
		q[i] = strconv.Quote(s.String())
	}
	return "{" + strings.Join(q, ",") + "}"
}

// markScript moves recipients to a state, one byte each, and keeps the
// per-state counters in step in the same script.
//
// KEYS[1] state string, KEYS[2] meta hash. ARGV[1] target state code,
// ARGV[2] the allowed source states as bytes, ARGV[3…] the indices as
// runs: pairs of first index and length. Returns a string with '1' for
// each index moved, '0' for each left alone (not in an allowed source
// state, or already in the target), in the order given.
//
// A batch is usually one run of up to 1000 neighbours, all in a source
// state: the run is then read with one GETRANGE, checked and counted
// with string functions, and written with one SETRANGE, with no Lua loop
// over its bytes. A run holding other states is walked byte by byte.
// Runs are applied in order, so a repeated index sees its earlier move.
var markScript = redis.NewScript(`
local names = ` + luaStateNames() + `
local to = tonumber(ARGV[1])
local allowed, class = {}, ''
for i = 1, #ARGV[2] do
  local b = string.byte(ARGV[2], i)
  if b ~= to and not allowed[b] then
    allowed[b] = true
    local c = string.char(b)
    if b == 0 then c = '%z' elseif not string.find(c, '%w') then c = '%' .. c end
    class = class .. c
  end
end
local toChar = string.char(to)
local moved, out, n = {}, {}, 0
for i = 3, #ARGV, 2 do
  local a, len = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local cur = redis.call('GETRANGE', KEYS[1], a, a + len - 1)
  if #cur < len then cur = cur .. string.rep('\0', len - #cur) end
  if class ~= '' and not string.find(cur, '[^' .. class .. ']') then
    for b in pairs(allowed) do
      local p = string.char(b)
      if b == 0 then p = '%z' elseif not string.find(p, '%w') then p = '%' .. p end
      local _, c = string.gsub(cur, p, '')
      if c > 0 then moved[b] = (moved[b] or 0) + c end
    end
    n = n + len
    out[#out + 1] = string.rep('1', len)
    redis.call('SETRANGE', KEYS[1], a, string.rep(toChar, len))
  else
    local bytes, flags, any = {}, {}, false
    for j = 1, len do
      local b = string.byte(cur, j)
      if allowed[b] then
        moved[b] = (moved[b] or 0) + 1
        n = n + 1
        bytes[j], flags[j], any = toChar, '1', true
      else
        bytes[j], flags[j] = string.char(b), '0'
      end
    end
    out[#out + 1] = table.concat(flags)
    if any then redis.call('SETRANGE', KEYS[1], a, table.concat(bytes)) end
  end
end
for b, c in pairs(moved) do
  redis.call('HINCRBY', KEYS[2], 'n:' .. names[b + 1], -c)
end
if n > 0 then redis.call('HINCRBY', KEYS[2], 'n:' .. names[to + 1], n) end
local resent = moved[` + strconv.Itoa(int(Unknown)) + `]
if resent and to == ` + strconv.Itoa(int(Sending)) + ` then redis.call('HINCRBY', KEYS[2], 'resent', resent) end
return table.concat(out)
`)

// claimScript claims block ARGV[1] for enqueueing at ARGV[2] (unix ms):
// only when the campaign is scheduled or running, every earlier block is
// complete and no one claimed it yet. Returns 1 when claimed.
var claimScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'state', 'next_block', 'blocks_done', 'blocks')
local st = h[1]
if st ~= 'scheduled' and st ~= 'running' then return 0 end
local k = tonumber(ARGV[1])
if tonumber(h[2] or '0') ~= k or tonumber(h[3] or '0') ~= k or k >= tonumber(h[4] or '0') then return 0 end
redis.call('HSET', KEYS[1], 'next_block', k + 1, 'last_block_start', ARGV[2], 'state', 'running', 'attempts', 0)
if k == 0 then redis.call('HSET', KEYS[1], 'first_block_start', ARGV[2]) end
return 1
`)

// blockDoneScript records block ARGV[1] complete (ARGV[1] = -1 records
// nothing) and, once every block is, moves an active campaign to done at
// ARGV[2] (unix ms). Returns the campaign's state.
var blockDoneScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'state', 'blocks_done', 'blocks')
local st, bd, blocks = h[1], tonumber(h[2] or '0'), tonumber(h[3] or '0')
if not st then return '' end
local k = tonumber(ARGV[1])
if k >= 0 and bd < k + 1 then
  bd = k + 1
  redis.call('HSET', KEYS[1], 'blocks_done', bd, 'attempts', 0)
end
if bd >= blocks and (st == 'scheduled' or st == 'running') then
  redis.call('HSET', KEYS[1], 'state', 'done', 'finished', ARGV[2])
  st = 'done'
end
return st
`)

// setStateScript moves the campaign to ARGV[1] with reason ARGV[2] when its
// state is one of ARGV[3…]. "running" becomes "scheduled" when no block
// was enqueued yet. Returns {previous state, "ok"|"refused"}; the previous
// state is "" when the campaign does not exist.
var setStateScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'state', 'next_block')
local st = h[1]
if not st then return {'', 'refused'} end
for i = 3, #ARGV do
  if st == ARGV[i] then
    local to = ARGV[1]
    if to == 'running' and tonumber(h[2] or '0') == 0 then to = 'scheduled' end
    redis.call('HSET', KEYS[1], 'state', to, 'pause_reason', ARGV[2])
    return {st, 'ok'}
  end
end
return {st, 'refused'}
`)

// leaseScript takes or renews a lease: KEYS[1] held by ARGV[1] for ARGV[2]
// ms. Returns 1 when the caller holds it.
var leaseScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`)

// releaseScript drops a lease the caller holds.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// startedScript records that block ARGV[1] actually started sending at
// ARGV[2] (unix ms), once per block: a block that runs late (downtime)
// moves last_block_start to when it really went, so the next block keeps
// minutesxblock from it instead of following at once. A start later than
// planned by no more than ARGV[3] ms leaves the plan alone: every block
// starts a few milliseconds after its instant, and moving the plan by that
// much each time would make a long campaign drift off its schedule.
var startedScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'next_block', 'started_block', 'last_block_start')
local k = tonumber(ARGV[1])
if tonumber(h[1] or '0') ~= k + 1 or h[2] == ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'started_block', k)
if tonumber(h[3] or '0') + tonumber(ARGV[3]) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'last_block_start', ARGV[2])
  if k == 0 then redis.call('HSET', KEYS[1], 'first_block_start', ARGV[2]) end
end
return 1
`)

// submittedChar is the Lua expression of the submitted state byte.
var submittedChar = "string.char(" + strconv.Itoa(int(Submitted)) + ")"

// recordPIDsScript writes provider ids into a campaign's provider-id
// hashes. KEYS are the hashes; ARGV are triples (key number, field, id).
// Returns the ids it replaced (a recipient sent again gets a new id), so
// their global index entries can be dropped.
var recordPIDsScript = redis.NewScript(`
local old = {}
for i = 1, #ARGV, 3 do
  local k = KEYS[tonumber(ARGV[i])]
  local prev = redis.call('HGET', k, ARGV[i + 1])
  if prev and prev ~= ARGV[i + 2] then old[#old + 1] = prev end
  redis.call('HSET', k, ARGV[i + 1], ARGV[i + 2])
end
return old
`)

// settleScript applies a final delivery report to recipient ARGV[1]:
// only when KEYS[3] field ARGV[2] still holds its provider id ARGV[3]
// (else -1: the id is not this recipient's), and only from submitted
// (else 0: already final, nothing changes). Moves it to state ARGV[4]
// with the counters and returns 1.
//
// KEYS[1] state string, KEYS[2] meta hash, KEYS[3] provider-id hash.
var settleScript = redis.NewScript(`
local names = ` + luaStateNames() + `
if redis.call('HGET', KEYS[3], ARGV[2]) ~= ARGV[3] then return -1 end
local idx = tonumber(ARGV[1])
local cur = redis.call('GETRANGE', KEYS[1], idx, idx)
if cur ~= ` + submittedChar + ` then return 0 end
local to = tonumber(ARGV[4])
redis.call('SETRANGE', KEYS[1], idx, string.char(to))
redis.call('HINCRBY', KEYS[2], 'n:submitted', -1)
redis.call('HINCRBY', KEYS[2], 'n:' .. names[to + 1], 1)
return 1
`)

// armScript starts the delivery-poll round of block ARGV[1] (recipients
// ARGV[2] … ARGV[3]-1) at ARGV[4] (unix ms), unless one is running or the
// block has nothing to follow: no recipient submitted and no provider id
// recorded (push reports may settle every recipient before this runs;
// the round must still run, to drop the ids). A running round gets its
// anchor (the latest submission, from which the delivery deadline counts)
// moved to ARGV[4] when ARGV[5] is "1". Returns {"1" when started, the
// round's id ("0": none)}.
//
// KEYS[1] state string, KEYS[2] poll-rounds hash (block → "<id>:<anchor>"),
// KEYS[3…] the provider-id hashes covering the block, the first being
// number ARGV[6].
var armScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if cur then
  local id, anchor = string.match(cur, '^(%d+):(%d+)$')
  if ARGV[5] == '1' and tonumber(ARGV[4]) > tonumber(anchor) then
    redis.call('HSET', KEYS[2], ARGV[1], id .. ':' .. ARGV[4])
  end
  return {'0', id}
end
local lo, hi = tonumber(ARGV[2]), tonumber(ARGV[3])
if hi <= lo then return {'0', '0'} end
local follow = ARGV[5] == '1' or string.find(redis.call('GETRANGE', KEYS[1], lo, hi - 1), ` + submittedChar + `, 1, true)
local size, first = ` + strconv.Itoa(pidChunk) + `, tonumber(ARGV[6])
for k = 3, #KEYS do
  if follow then break end
  local base = (first + k - 3) * size
  for _, f in ipairs(redis.call('HKEYS', KEYS[k])) do
    local i = base + tonumber(f)
    if i >= lo and i < hi then follow = true break end
  end
end
if not follow then return {'0', '0'} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4] .. ':' .. ARGV[4])
return {'1', ARGV[4]}
`)

// disarmScript forgets round ARGV[2] of block ARGV[1] (its first task
// could not be enqueued). KEYS[1] poll-rounds hash.
var disarmScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and string.match(cur, '^(%d+):') == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
`)

// endRoundScript ends round ARGV[2] of block ARGV[1] (recipients ARGV[3]
// … ARGV[4]-1) once none of them is submitted any more: forgets the round
// and the block's provider ids. Returns 1 when ended, 0 when a recipient
// still waits for its report, -1 when the round is not the block's
// current one.
//
// KEYS[1] state string, KEYS[2] poll-rounds hash, KEYS[3…] the
// provider-id hashes covering the block, the first being number ARGV[5].
var endRoundScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur or string.match(cur, '^(%d+):') ~= ARGV[2] then return -1 end
local lo, hi = tonumber(ARGV[3]), tonumber(ARGV[4])
if hi > lo and string.find(redis.call('GETRANGE', KEYS[1], lo, hi - 1), ` + submittedChar + `, 1, true) then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
local size, first = ` + strconv.Itoa(pidChunk) + `, tonumber(ARGV[5])
for k = 3, #KEYS do
  local n = first + k - 3
  local fields = {}
  for i = math.max(lo, n * size), math.min(hi, (n + 1) * size) - 1 do fields[#fields + 1] = tostring(i - n * size) end
  if #fields > 0 then redis.call('HDEL', KEYS[k], unpack(fields)) end
end
return 1
`)
