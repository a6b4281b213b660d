/** SenML (RFC 8428) codec: parse, validate, resolve and encode JSON, CBOR and XML; pure. */
export * from "./types.js";
export { encodeBase64url, decodeBase64url } from "./base64url.js";
export { pointerTo } from "./errors.js";
export { isValidName } from "./names.js";
export { validatePack, validateRecord, typedRecords, type DataValueForm } from "./validate.js";
export { resolve, type ResolveOptions } from "./resolve.js";
export {
  parseJson,
  decodeJson,
  encodeJson,
  encodeJsonRecord,
  utf8Length,
  DEFAULT_MAX_INPUT_BYTES,
  type ParseOptions,
} from "./json.js";
export { parseCbor, decodeCbor, encodeCbor, type CborEncodeOptions } from "./cbor.js";
export { parseXml, decodeXml, encodeXml, SENML_XML_NAMESPACE, type XmlEncodeOptions } from "./xml.js";
export { detectFormat, parsePack, encodePack, resolveJson, resolveInput } from "./codec.js";
export {
  splitFullName,
  joinFullName,
  valueField,
  recordValue,
  toUpdate,
  packUpdates,
  buildPack,
  DEFAULT_MAX_PACK_BYTES,
  type ResourcePath,
  type SenmlUpdate,
  type ReceivedUpdate,
  type ValueField,
  type PackOptions,
} from "./model.js";
