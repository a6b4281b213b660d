/** Error classification by SQLSTATE / driver code (never message text). Pure: no database. */
import { describe, expect, it } from "vitest";
import { RelaisError } from "../../core/errors.js";
import { classifyDbError, wrapDbError } from "./database.js";

const err = (code?: string, message = "same text for every case"): Error =>
  Object.assign(new Error(message), code === undefined ? {} : { code });

describe("classifyDbError", () => {
  it.each([
    ["40001", "RELAIS_ERR_DB_UNAVAILABLE"],
    ["40P01", "RELAIS_ERR_DB_UNAVAILABLE"],
    ["57P01", "RELAIS_ERR_DB_UNAVAILABLE"],
    ["57P03", "RELAIS_ERR_DB_UNAVAILABLE"],
    ["08006", "RELAIS_ERR_DB_UNAVAILABLE"],
    ["08001", "RELAIS_ERR_DB_UNAVAILABLE"],
    ["ECONNREFUSED", "RELAIS_ERR_DB_UNAVAILABLE"],
    ["ECONNRESET", "RELAIS_ERR_DB_UNAVAILABLE"],
    ["23505", "RELAIS_ERR_DB_CONFLICT"],
    ["23503", "RELAIS_ERR_DB_REFERENCE"],
    ["23001", "RELAIS_ERR_DB_REFERENCE"],
    ["42P01", "RELAIS_ERR_DB_QUERY"],
    ["22P02", "RELAIS_ERR_DB_QUERY"],
    ["23514", "RELAIS_ERR_DB_QUERY"],
  ])("%s → %s", (code, expected) => {
    expect(classifyDbError(err(code))).toBe(expected);
  });

  it("ignores the message: a 'connection' message with a syntax SQLSTATE is not retryable", () => {
    expect(classifyDbError(err("42601", "connection terminated unexpectedly"))).toBe("RELAIS_ERR_DB_QUERY");
  });

  it("treats a driver error without SQLSTATE (lost connection, connect timeout) as unavailable", () => {
    expect(classifyDbError(err(undefined, "anything"))).toBe("RELAIS_ERR_DB_UNAVAILABLE");
  });

  it("wraps with retryable flag, SQLSTATE and cause; passes RelaisErrors and programmer errors through", () => {
    const cause = Object.assign(err("40001"), { constraint: undefined });
    const w = wrapDbError(cause) as RelaisError;
    expect(w).toBeInstanceOf(RelaisError);
    expect(w.retryable).toBe(true);
    expect(w.details).toEqual({ sqlstate: "40001" });
    expect(w.cause).toBe(cause);
    const dup = wrapDbError(Object.assign(err("23505"), { constraint: "apps_jid_key" })) as RelaisError;
    expect(dup.retryable).toBe(false);
    expect(dup.details).toEqual({ sqlstate: "23505", constraint: "apps_jid_key" });
    const own = new RelaisError("RELAIS_ERR_DB_NOT_FOUND");
    expect(wrapDbError(own)).toBe(own);
    const bug = new TypeError("x is not a function");
    expect(wrapDbError(bug)).toBe(bug);
  });
});
