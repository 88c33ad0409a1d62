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

export interface Script {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/**
 * KEYS: current hash, history list. ARGV: sequence ('' = none), digest, force, history limit,
 * record JSON. Field 'm' keeps the highest sequence ever accepted ('' = none; absent on old
 * records, whose 's' stands in): the same table as ../records.ts decideBundlePut/nextHighestSequence.
 * The stored record is ARGV[5] with `highestSequence` appended (canonical decimals need no escaping).
 * Returns {outcome, previous record or false, stored record or highest sequence when stale}.
 */
export const PUT_BUNDLE = script(`${SEQUENCE_LESS}
local cur = redis.call('HMGET', KEYS[1], 's', 'h', 'r', 'm')
local s, h, r, m = cur[1], cur[2], cur[3], cur[4]
local force = ARGV[3] == '1'
local mark = ''
if r then
  if s == ARGV[1] and h == ARGV[2] then return {'unchanged', r, r} end
  if m then mark = m end
  if s ~= '' and (mark == '' or seqLess(mark, s)) then mark = s end
  if not force and mark ~= '' and ARGV[1] ~= '' and seqLess(ARGV[1], mark) then
    return {'stale', r, mark}
  end
end
local nextMark = ARGV[1]
if r and not force and (ARGV[1] == '' or seqLess(ARGV[1], mark)) then nextMark = mark end
local json = 'null'
if nextMark ~= '' then json = '"' .. nextMark .. '"' end
local rec = string.sub(ARGV[5], 1, -2) .. ',"highestSequence":' .. json .. '}'
redis.call('HSET', KEYS[1], 's', ARGV[1], 'h', ARGV[2], 'r', rec, 'm', nextMark)
redis.call('LPUSH', KEYS[2], rec)
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
if r then return {'replaced', r, rec} end
return {'created', false, rec}
`);

/** KEYS: local bundle hash. ARGV: sequence, digest, record. */
export const PUT_LOCAL_BUNDLE = script(`${SEQUENCE_LESS}
local cur = redis.call('HMGET', KEYS[1], 's', 'h')
if cur[1] and not seqLess(cur[1], ARGV[1]) then
  if cur[1] == ARGV[1] and cur[2] == ARGV[2] then return {'unchanged'} end
  return {'stale', cur[1]}
end
redis.call('HSET', KEYS[1], 's', ARGV[1], 'h', ARGV[2], 'r', ARGV[3])
return {'written'}
`);

/** KEYS: record hash. ARGV: expected ('absent' | 'any' | version), JSON. Returns the new version or -1. */
export const PUT_VERSIONED = script(`
local v = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == 'absent' then
  if v then return -1 end
elseif ARGV[1] ~= 'any' and v ~= ARGV[1] then
  return -1
end
local nv = (tonumber(v) or 0) + 1
redis.call('HSET', KEYS[1], 'v', tostring(nv), 'd', ARGV[2])
return nv
`);

/** KEYS: record hash. ARGV: expected ('any' | version). Returns 1 deleted, 0 absent, -1 conflict. */
export const DELETE_VERSIONED = script(`
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return 0 end
if ARGV[1] ~= 'any' and v ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1])
return 1
`);

/** KEYS: token. One GET + DEL: only one caller can ever receive the value. */
export const CONSUME_TOKEN = script(`
local v = redis.call('GET', KEYS[1])
if v then redis.call('DEL', KEYS[1]) end
return v
`);

/** KEYS: any key (routes to its node in a cluster). The server's clock in ms. */
export const SERVER_TIME_MS = script(`
local t = redis.call('TIME')
return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`);

/**
 * KEYS: lock. ARGV: owner, ttl ms, deadline (server clock, ms). Takes a free lease or restarts the
 * owner's own. -1: the request reached Redis after its deadline (its caller has given up waiting, e.g.
 * it sat in a stalled server's socket buffer), so it never takes effect.
 */
export const ACQUIRE_LOCK = script(`
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[3]) then return -1 end
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
`);

export const RENEW_LOCK = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`);

export const RELEASE_LOCK = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`);

/**
 * KEYS: audit stream. ARGV: expected last id ('0' = empty), new id, max length, record, then
 * optionally the `audit.trimmed` record's id, the record, and the first id to keep. 1 ok, 0 lost race.
 */
export const APPEND_AUDIT = script(`
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local lastId = '0'
if #last > 0 then lastId = string.match(last[1][1], '^(%d+)') end
if lastId ~= ARGV[1] then return 0 end
if ARGV[5] then
  redis.call('XADD', KEYS[1], ARGV[2] .. '-0', 'r', ARGV[4])
  redis.call('XADD', KEYS[1], ARGV[5] .. '-0', 'r', ARGV[6])
  redis.call('XTRIM', KEYS[1], 'MINID', ARGV[7] .. '-0')
elseif ARGV[3] == '0' then
  redis.call('XADD', KEYS[1], ARGV[2] .. '-0', 'r', ARGV[4])
else
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], ARGV[2] .. '-0', 'r', ARGV[4])
end
return 1
`);
