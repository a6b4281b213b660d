import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERRORS } from "../../src/core/errors.js";
import { renderErrorsDoc } from "../../scripts/errors-doc.js";
import { renderConfigDoc } from "../../scripts/config-doc.js";

describe("error catalogue", () => {
  it("docs/errors.md is generated from the catalogue (run npm run docs:errors)", () => {
    expect(readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8")).toBe(renderErrorsDoc());
  });
  it("docs/config.md is generated from the configuration schema", () => {
    expect(readFileSync(new URL("../../docs/config.md", import.meta.url), "utf8")).toBe(renderConfigDoc());
  });
  it("every code follows RELAIS_ERR_<AREA>_<REASON> and has a fix", () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      expect(code).toMatch(/^RELAIS_ERR_[A-Z0-9]+_[A-Z0-9_]+$/);
      expect(spec.fix.length).toBeGreaterThan(10);
      expect(spec.status).toBeGreaterThanOrEqual(400);
    }
  });
});
