// The Redis store's Lua scripts: every read-compare-write that must be atomic on the server (bundle
// sequence checks, compare-and-set versions, one-time tokens, owner-checked leases, chained audit appends).
// Each is sent by SHA (EVALSHA) and re-sent in full only when the server does not know it yet.
import { createHash } from 'node:crypto';

/** Lua helper: orders canonical decimal sequences without number conversion (lossless 64-bit). */
const SEQUENCE_LESS = `
local function seqLess(a, b)
  if #a ~= #b then return #a < #b end
  for i = 1, #a do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return false
end
`;

/** Error reply of a request that came after its deadline; ./connection.ts: ERR_STORE_UNAVAILABLE. */
export const LATE_REPLY = 'LATE';

/** Error reply of a script that found a damaged record; ./connection.ts: ERR_STORE_CORRUPT. */
export const CORRUPT_REPLY = 'CORRUPT';

/**
 * Lua prelude of every write script: ARGV[1] is a deadline on the server's own clock (ms), no later
 * than the moment the caller stops waiting (RedisConnection.runBeforeDeadline). A request that reaches Redis after it
 * (it sat in a stalled server's socket buffer while its caller answered ERR_STORE_UNAVAILABLE) is
 * refused with a LATE error and never takes effect. The script's own arguments start at ARGV[2].
 */
const DEADLINE = `
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[1]) then
  return redis.error_reply('${LATE_REPLY} request reached redis after its deadline')
end
`;

export interface Script {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/**
 * KEYS: current hash, history list. ARGV (after the deadline): sequence ('' = none), digest, force,
 * history limit, record JSON. Field 'm' keeps the highest sequence ever accepted ('' = none; absent
 * on old records, whose 's' stands in): the same table as ../records.ts decideBundlePut/nextHighestSequence.
 * The stored record is the JSON with `highestSequence` appended (canonical decimals need no escaping).
 * Returns {outcome, previous record or false, stored record or highest sequence when stale}.
 */
export const PUT_BUNDLE = script(`${DEADLINE}${SEQUENCE_LESS}
local cur = redis.call('HMGET', KEYS[1], 's', 'h', 'r', 'm')
local s, h, r, m = cur[1], cur[2], cur[3], cur[4]
local seq, digest, force = ARGV[2], ARGV[3], ARGV[4] == '1'
local mark = ''
if r then
  if not s or not h then return redis.error_reply('${CORRUPT_REPLY} bundle record without sequence or digest') end
  if s == seq and h == digest then return {'unchanged', r, r} end
  if m then mark = m end
  if s ~= '' and (mark == '' or seqLess(mark, s)) then mark = s end
  if not force and mark ~= '' and seq ~= '' and seqLess(seq, mark) then
    return {'stale', r, mark}
  end
end
local nextMark = seq
if r and not force and (seq == '' or seqLess(seq, mark)) then nextMark = mark end
local json = 'null'
if nextMark ~= '' then json = '"' .. nextMark .. '"' end
local rec = string.sub(ARGV[6], 1, -2) .. ',"highestSequence":' .. json .. '}'
redis.call('HSET', KEYS[1], 's', seq, 'h', digest, 'r', rec, 'm', nextMark)
redis.call('LPUSH', KEYS[2], rec)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[5]) - 1)
if r then return {'replaced', r, rec} end
return {'created', false, rec}
`);

/** KEYS: local bundle hash. ARGV (after the deadline): sequence, digest, record. */
export const PUT_LOCAL_BUNDLE = script(`${DEADLINE}${SEQUENCE_LESS}
local cur = redis.call('HMGET', KEYS[1], 's', 'h')
if cur[1] and not seqLess(cur[1], ARGV[2]) then
  if cur[1] == ARGV[2] and cur[2] == ARGV[3] then return {'unchanged'} end
  return {'stale', cur[1]}
end
redis.call('HSET', KEYS[1], 's', ARGV[2], 'h', ARGV[3], 'r', ARGV[4])
return {'written'}
`);

/** Lua: the version of a versioned record hash, refusing a version without data or data without one. */
const VERSION_OF = `
local cur = redis.call('HMGET', KEYS[1], 'v', 'd')
local v = cur[1]
if (v and not cur[2]) or (cur[2] and not v) then
  return redis.error_reply('${CORRUPT_REPLY} versioned record has a version without data or data without a version')
end
`;

/**
 * KEYS: record hash. ARGV (after the deadline): expected ('absent' | 'any' | version), JSON.
 * Returns the new version or -1.
 */
export const PUT_VERSIONED = script(`${DEADLINE}${VERSION_OF}
if ARGV[2] == 'absent' then
  if v then return -1 end
elseif ARGV[2] ~= 'any' and v ~= ARGV[2] then
  return -1
end
local nv = (tonumber(v) or 0) + 1
redis.call('HSET', KEYS[1], 'v', tostring(nv), 'd', ARGV[3])
return nv
`);

/**
 * KEYS: record hash. ARGV (after the deadline): expected ('any' | version). Returns 1 deleted,
 * 0 absent, -1 conflict.
 */
export const DELETE_VERSIONED = script(`${DEADLINE}${VERSION_OF}
if not v then return 0 end
if ARGV[2] ~= 'any' and v ~= ARGV[2] then return -1 end
redis.call('DEL', KEYS[1])
return 1
`);

/** KEYS: token. ARGV: the deadline. One GET + DEL: only one caller can ever receive the value. */
export const CONSUME_TOKEN = script(`${DEADLINE}
local v = redis.call('GET', KEYS[1])
if v then redis.call('DEL', KEYS[1]) end
return v
`);

/**
 * KEYS: the command's keys (one slot). ARGV (after the deadline): a plain write command (SET, DEL),
 * then its arguments after the keys. The command's own reply.
 */
export const WRITE_COMMAND = script(`${DEADLINE}
local args = {ARGV[2]}
for i = 1, #KEYS do args[#args + 1] = KEYS[i] end
for i = 3, #ARGV do args[#args + 1] = ARGV[i] end
return redis.call(unpack(args))
`);

/** KEYS: any key (routes to its node in a cluster). The server's clock in ms. */
export const SERVER_TIME_MS = script(`
local t = redis.call('TIME')
return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`);

/**
 * KEYS: lock. ARGV (after the deadline): owner, ttl ms. Takes a free lease or restarts the owner's
 * own; never after the deadline, so a lock never outlives a request its caller gave up on.
 */
export const ACQUIRE_LOCK = script(`${DEADLINE}
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
if v == ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
`);

/** KEYS: lock. ARGV (after the deadline): owner, ttl ms. */
export const RENEW_LOCK = script(`${DEADLINE}
if redis.call('GET', KEYS[1]) == ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
`);

/** KEYS: lock. ARGV: owner. No deadline: a late release only frees what its caller meant to free. */
export const RELEASE_LOCK = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`);

/**
 * KEYS: audit stream. ARGV (after the deadline): expected last id ('0' = empty), max length ('0' =
 * none), the number n of records, n pairs of id and record, then optionally the `audit.trimmed`
 * record's id, the record, and the first id to keep. 1 ok, 0 lost race.
 */
export const APPEND_AUDIT = script(`${DEADLINE}
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local lastId = '0'
if #last > 0 then lastId = string.match(last[1][1], '^(%d+)') end
if lastId ~= ARGV[2] then return 0 end
local n = tonumber(ARGV[4])
for i = 0, n - 1 do
  local id, rec = ARGV[5 + 2 * i], ARGV[6 + 2 * i]
  if ARGV[3] == '0' then
    redis.call('XADD', KEYS[1], id .. '-0', 'r', rec)
  else
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], id .. '-0', 'r', rec)
  end
end
local t = 5 + 2 * n
if ARGV[t] then
  redis.call('XADD', KEYS[1], ARGV[t] .. '-0', 'r', ARGV[t + 1])
  redis.call('XTRIM', KEYS[1], 'MINID', ARGV[t + 2] .. '-0')
end
return 1
`);
