import { RelaisError, isRelaisError } from "../../core/errors.js";

/** Turn a foreign-key failure on DELETE into "still in use". */
export async function deleting<R>(what: string, id: number, fn: () => Promise<R>): Promise<R> {
  try {
    return await fn();
  } catch (e) {
    if (isRelaisError(e) && e.code === "RELAIS_ERR_DB_REFERENCE")
      throw new RelaisError("RELAIS_ERR_DB_IN_USE", `${what} ${id} is still in use`, { id }, { cause: e });
    throw e;
  }
}
