// Where the session is kept. An adapter has getItem/setItem/removeItem (sync or async), like
// Web Storage: memoryStorage() (the default; lost when the process ends) and
// localStorageAdapter() (a browser's localStorage, or any object with that interface).

export function memoryStorage() {
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => { m.set(k, String(v)); },
    removeItem: (k) => { m.delete(k); },
  };
}

export function localStorageAdapter(storage = globalThis.localStorage) {
  if (!storage || typeof storage.getItem !== 'function') {
    throw new TypeError('localStorageAdapter: no localStorage here (pass one, or use memoryStorage())');
  }
  return {
    getItem: (k) => storage.getItem(k),
    setItem: (k, v) => storage.setItem(k, v),
    removeItem: (k) => storage.removeItem(k),
  };
}
