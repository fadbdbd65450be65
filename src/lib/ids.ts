/** Prefixes of the opaque ids the API hands out. */
const ID_PREFIXES = {
  workspace: "wsp",
  token: "tok",
  source: "src",
  model: "mod",
  destination: "dst",
  sync: "syn",
  run: "run",
  batch: "bat",
  request: "req",
  alertChannel: "chn",
  alert: "alr",
  audit: "aud",
} as const;
export type IdKind = keyof typeof ID_PREFIXES;

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford base32, lower case
let lastTime = 0;
let lastRandom = new Uint8Array(10);

/**
 * A new id: prefix, 10 characters of millisecond time and 16 of randomness (ULID layout), so ids sort
 * by creation time and keyset pagination over ids lists newest first. Monotonic within an isolate.
 */
export function newId(kind: IdKind): string {
  const now = Date.now();
  if (now === lastTime) {
    // Same millisecond: increment the random part so order still follows creation.
    for (let i = lastRandom.length - 1; i >= 0; i--) {
      const v = lastRandom[i] ?? 0;
      lastRandom[i] = (v + 1) & 0xff;
      if (v !== 0xff) break;
    }
  } else {
    lastTime = now;
    lastRandom = crypto.getRandomValues(new Uint8Array(10));
  }
  let time = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  let rand = "";
  // 80 bits of randomness as 16 base32 characters.
  let bits = 0;
  let acc = 0;
  for (const byte of lastRandom) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      rand += ALPHABET[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return `${ID_PREFIXES[kind]}_${time}${rand}`;
}
