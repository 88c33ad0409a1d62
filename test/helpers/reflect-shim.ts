// Minimal Reflect metadata polyfill so @peculiar/x509 (through tsyringe) loads in tests without the
// reflect-metadata package. Import this module before '@peculiar/x509'; it only fills missing functions.
type Key = string | symbol;
const store = new WeakMap<object, Map<Key | undefined, Map<unknown, unknown>>>();

function table(target: object, property: Key | undefined, create: boolean) {
  let byProperty = store.get(target);
  if (!byProperty) {
    if (!create) return undefined;
    byProperty = new Map();
    store.set(target, byProperty);
  }
  let entries = byProperty.get(property);
  if (!entries && create) {
    entries = new Map();
    byProperty.set(property, entries);
  }
  return entries;
}

interface ReflectMetadata {
  defineMetadata(key: unknown, value: unknown, target: object, property?: Key): void;
  getOwnMetadata(key: unknown, target: object, property?: Key): unknown;
  getMetadata(key: unknown, target: object, property?: Key): unknown;
  metadata(key: unknown, value: unknown): (target: object, property?: Key) => void;
}

const reflect = Reflect as unknown as Partial<ReflectMetadata>;
if (typeof reflect.getMetadata !== 'function') {
  const shim: ReflectMetadata = {
    defineMetadata(key, value, target, property) {
      table(target, property, true)?.set(key, value);
    },
    getOwnMetadata(key, target, property) {
      return table(target, property, false)?.get(key);
    },
    getMetadata(key, target, property) {
      for (let t: object | null = target; t; t = Object.getPrototypeOf(t) as object | null) {
        const entries = table(t, property, false);
        if (entries?.has(key)) return entries.get(key);
      }
      return undefined;
    },
    metadata(key, value) {
      return (target, property) => shim.defineMetadata(key, value, target, property);
    },
  };
  Object.assign(Reflect, shim);
}

export const reflectShimInstalled = true;
