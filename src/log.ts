/** The process logger: pino JSON lines on stderr, secrets redacted wherever they appear. */
import { pino } from "pino";
import type { Logger } from "./core/ports.js";

export const REDACT_PATHS = [
  "password",
  "*.password",
  "credentials",
  "*.credentials",
  "token",
  "*.token",
  "secretKey",
  "*.secretKey",
  "authorization",
  "*.authorization",
  "req.headers.authorization",
  "req.headers.cookie",
  "headers.authorization",
];

export function createLogger(level: string, name = "relais"): Logger {
  return pino(
    { name, level, redact: { paths: REDACT_PATHS, censor: "***" } },
    pino.destination({ dest: 2, sync: false }),
  );
}
