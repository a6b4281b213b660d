/** SenML name rules (RFC 8428 §4.5.1). */

/** 1: allowed anywhere; 2: allowed as the first character too. */
const NAME_CHARS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9]/.test(ch)) NAME_CHARS[c] = 2;
  else if ("-:./_".includes(ch)) NAME_CHARS[c] = 1;
}

/** Index of the first character outside A-Z a-z 0-9 - : . / _, or -1. */
export function badNameChar(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || NAME_CHARS[c] === 0) return i;
  }
  return -1;
}

/** Whether a string may start a resolved name (a letter or a digit). */
export function goodFirstChar(s: string): boolean {
  const c = s.charCodeAt(0);
  return c < 128 && NAME_CHARS[c] === 2;
}

/** The whole §4.5.1 rule for a resolved (concatenated) name. */
export function isValidName(name: string): boolean {
  return name.length > 0 && goodFirstChar(name) && badNameChar(name) < 0;
}
