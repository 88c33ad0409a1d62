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

/** One uid's slots: in the order taken (a Set keeps it: its first is the oldest), and a stack. */
interface UidSlots<T> {
  readonly items: Set<T>;
  /** Items in the order taken; given-back ones are skipped lazily and compacted away. */
  order: T[];
}

/** The newest slot still held: the top of the stack, past given-back items (amortised O(1)). */
function newestOf<T>(slots: UidSlots<T>): T | undefined {
  while (slots.order.length > 0) {
    const item = slots.order[slots.order.length - 1] as T;
    if (slots.items.has(item)) return item;
    slots.order.pop();
  }
  return undefined;
}

export function createFairPool<T>(options: FairPoolOptions<T>): FairPool<T> {
  const byUid = new Map<number, UidSlots<T>>();
  // Uids by how many slots they hold, each set in the order its uids reached that count; and the
  // highest count held. Counts move by one at a time, so keeping these costs O(1) per change, and
  // so does finding whom to take a slot back from (review 17 F2: no scan of the pool).
  const buckets = new Map<number, Set<number>>();
  let maxHeld = 0;
  let size = 0;

  function recount(uid: number, from: number, to: number): void {
    const old = buckets.get(from);
    old?.delete(uid);
    if (old?.size === 0) buckets.delete(from);
    if (to > 0) {
      let bucket = buckets.get(to);
      if (bucket === undefined) {
        bucket = new Set();
        buckets.set(to, bucket);
      }
      bucket.add(uid);
    }
    if (to > maxHeld) maxHeld = to;
    while (maxHeld > 0 && !buckets.has(maxHeld)) maxHeld -= 1;
  }

  /**
   * The uid holding the most and the slot to take back from it: its oldest or newest. Among equal
   * holders, the uid that reached that count first, so a newcomer that just got there keeps its slot.
   */
  function choose(): { uid: number; item: T } | undefined {
    const uid = buckets.get(maxHeld)?.values().next().value;
    const slots = uid === undefined ? undefined : byUid.get(uid);
    if (uid === undefined || slots === undefined) return undefined;
    const item = options.victim === 'oldest' ? slots.items.values().next().value : newestOf(slots);
    return item === undefined ? undefined : { uid, item };
  }

  function remove(uid: number, item: T): boolean {
    const slots = byUid.get(uid);
    if (slots === undefined || !slots.items.delete(item)) return false;
    const held = slots.items.size;
    if (held === 0) byUid.delete(uid);
    else if (slots.order.length > 2 * held + 16) slots.order = [...slots.items];
    recount(uid, held + 1, held);
    size -= 1;
    return true;
  }

  return {
    take(uid, item) {
      const mine = byUid.get(uid)?.items.size ?? 0;
      if (mine >= options.maxPerUid) return 'per-uid';
      if (size >= options.max) {
        const victim = choose();
        // Holding nothing always gets a slot; otherwise only from a uid at least two ahead, so two
        // uids near their share do not take a slot back and forth.
        if (victim === undefined) return 'full';
        if (mine > 0 && maxHeld < mine + 2) return 'full';
        remove(victim.uid, victim.item);
        options.evict(victim.uid, victim.item);
      }
      let slots = byUid.get(uid);
      if (slots === undefined) {
        slots = { items: new Set(), order: [] };
        byUid.set(uid, slots);
      }
      slots.items.add(item);
      slots.order.push(item);
      recount(uid, slots.items.size - 1, slots.items.size);
      size += 1;
      return 'taken';
    },
    give(uid, item) {
      remove(uid, item);
    },
    held: (uid) => byUid.get(uid)?.items.size ?? 0,
    get size() {
      return size;
    },
  };
}
