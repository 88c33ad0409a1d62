// A bounded pool of slots shared by local users (uids), fair to each: a uid holds at most its
// per-uid share, and when the pool is full a uid holding nothing (or two fewer than the uid holding
// the most) takes a slot back from that heaviest uid instead of being refused (review 14 F2).

export interface FairPoolOptions<T> {
  /** Slots in all: never exceeded. */
  readonly max: number;
  /** Slots one uid may hold. */
  readonly maxPerUid: number;
  /** Which of the heaviest uid's slots is taken back: its oldest or its newest. */
  readonly victim: 'oldest' | 'newest';
  /**
   * Takes `item`'s slot back: it is already out of the pool when this runs (its later give() is a
   * no-op); the holder must stop using what the slot bounds (close the socket, refuse the call).
   */
  readonly evict: (uid: number, item: T) => void;
}

export type TakeResult = 'taken' | 'per-uid' | 'full';

export interface FairPool<T> {
  /** Takes a slot for `item` of `uid`, evicting another uid's slot when the pool is full and fair. */
  take(uid: number, item: T): TakeResult;
  /** Gives `item`'s slot back; a no-op when it holds none (given back or evicted already). */
  give(uid: number, item: T): void;
  held(uid: number): number;
  readonly size: number;
}

/** The slot to take back from one uid: its first (oldest) or last (newest) with its number. */
function victimOf<T>(items: Map<T, number>, victim: 'oldest' | 'newest'): [T, number] | undefined {
  if (victim === 'oldest') return items.entries().next().value;
  let last: [T, number] | undefined;
  for (const entry of items) last = entry;
  return last;
}

export function createFairPool<T>(options: FairPoolOptions<T>): FairPool<T> {
  // Each uid's slots in the order taken, numbered; a newer slot has a higher number.
  const byUid = new Map<number, Map<T, number>>();
  let size = 0;
  let taken = 0;

  /**
   * The uid holding the most and the slot to take back from it; among equals the uid whose victim
   * is oldest (or newest) of all, so a newcomer's fresh request is not the one taken back.
   */
  function choose(): { uid: number; item: T } | undefined {
    let best: { uid: number; item: T; seq: number; held: number } | undefined;
    for (const [uid, items] of byUid) {
      if (best !== undefined && items.size < best.held) continue;
      const victim = victimOf(items, options.victim);
      if (victim === undefined) continue;
      const better =
        best === undefined ||
        items.size > best.held ||
        (options.victim === 'oldest' ? victim[1] < best.seq : victim[1] > best.seq);
      if (better) best = { uid, item: victim[0], seq: victim[1], held: items.size };
    }
    return best;
  }

  function remove(uid: number, item: T): boolean {
    const items = byUid.get(uid);
    if (items === undefined || !items.delete(item)) return false;
    if (items.size === 0) byUid.delete(uid);
    size -= 1;
    return true;
  }

  return {
    take(uid, item) {
      const mine = byUid.get(uid)?.size ?? 0;
      if (mine >= options.maxPerUid) return 'per-uid';
      if (size >= options.max) {
        const victim = choose();
        // Holding nothing always gets a slot; otherwise only from a uid at least two ahead, so two
        // uids near their share do not take a slot back and forth.
        if (victim === undefined) return 'full';
        if (mine > 0 && (byUid.get(victim.uid)?.size ?? 0) < mine + 2) return 'full';
        remove(victim.uid, victim.item);
        options.evict(victim.uid, victim.item);
      }
      let items = byUid.get(uid);
      if (items === undefined) {
        items = new Map();
        byUid.set(uid, items);
      }
      items.set(item, (taken += 1));
      size += 1;
      return 'taken';
    },
    give(uid, item) {
      remove(uid, item);
    },
    held: (uid) => byUid.get(uid)?.size ?? 0,
    get size() {
      return size;
    },
  };
}
