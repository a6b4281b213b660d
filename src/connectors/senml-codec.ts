/** The SenML decoder the connectors use: src/senml's parser and resolver (RFC 8428 §4.6). */
import { parsePack, resolve } from "../senml/index.js";
import type { SenmlDecode } from "./senml-records.js";

export const defaultSenmlDecode: SenmlDecode = (payload, format, nowSeconds) => {
  const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
  return resolve(parsePack(bytes, format), { now: nowSeconds });
};
