/** Unpadded base64url (RFC 4648 §5), the encoding of SenML data values in JSON and XML (RFC 8428 §5, §7). */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

export function encodeBase64url(bytes: Uint8Array): string {
  let out = "";
  const n = bytes.length;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const x = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += ALPHABET[x >> 18]! + ALPHABET[(x >> 12) & 63]! + ALPHABET[(x >> 6) & 63]! + ALPHABET[x & 63]!;
  }
  if (n - i === 1) {
    const x = bytes[i]! << 16;
    out += ALPHABET[x >> 18]! + ALPHABET[(x >> 12) & 63]!;
  } else if (n - i === 2) {
    const x = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += ALPHABET[x >> 18]! + ALPHABET[(x >> 12) & 63]! + ALPHABET[(x >> 6) & 63]!;
  }
  return out;
}

/**
 * Decode strict unpadded base64url: only the URL-safe alphabet, no '=', no whitespace, and the
 * unused low bits of the last character must be zero (so that every byte string has one spelling).
 * Returns undefined when the text is not canonical base64url.
 */
export function decodeBase64url(text: string): Uint8Array | undefined {
  const len = text.length;
  if (len % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((len * 3) / 4));
  let o = 0;
  let i = 0;
  for (; i + 3 < len; i += 4) {
    const a = sextet(text, i);
    const b = sextet(text, i + 1);
    const c = sextet(text, i + 2);
    const d = sextet(text, i + 3);
    if ((a | b | c | d) < 0) return undefined;
    const x = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = x >> 16;
    out[o++] = (x >> 8) & 255;
    out[o++] = x & 255;
  }
  const rest = len - i;
  if (rest === 2) {
    const a = sextet(text, i);
    const b = sextet(text, i + 1);
    if ((a | b) < 0 || (b & 15) !== 0) return undefined;
    out[o++] = (a << 2) | (b >> 4);
  } else if (rest === 3) {
    const a = sextet(text, i);
    const b = sextet(text, i + 1);
    const c = sextet(text, i + 2);
    if ((a | b | c) < 0 || (c & 3) !== 0) return undefined;
    const x = (a << 12) | (b << 6) | c;
    out[o++] = x >> 10;
    out[o++] = (x >> 2) & 255;
  }
  return out;
}

function sextet(text: string, i: number): number {
  const c = text.charCodeAt(i);
  return c < 128 ? DECODE[c]! : -1;
}
