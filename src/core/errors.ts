/**
 * The one error catalogue of Relais. Every error a user, a peer or an operator can see has a
 * stable code here: `RELAIS_ERR_<AREA>_<REASON>`. Tests assert codes, never message text.
 *
 * `status` is the sensiNact statusCode (HTTP-like) the edges use; `retryable` tells background
 * loops whether trying again can help; `fix` is what docs/errors.md tells the user to do.
 * docs/errors.md is generated from this table (`npm run docs:errors`) and a test keeps the two in step.
 *
 * Each area keeps its codes in its own section; add new codes at the end of your area's section.
 */
export interface ErrorSpec {
  readonly status: number;
  readonly retryable: boolean;
  readonly message: string;
  readonly fix: string;
}

const spec = (status: number, message: string, fix: string, retryable = false): ErrorSpec => ({
  status,
  retryable,
  message,
  fix,
});

export const ERRORS = {
  // ---- CONFIG: boot configuration and command line ----
  RELAIS_ERR_CONFIG_INVALID: spec(
    400,
    "The configuration is invalid",
    "Read the listed problems; fix the environment variables, config file or flags they name.",
  ),
  RELAIS_ERR_CONFIG_UNKNOWN_KEY: spec(
    400,
    "Unknown configuration key",
    "Run `relais config get` to list the known keys.",
  ),
  RELAIS_ERR_CLI_USAGE: spec(
    400,
    "The command line is not valid",
    "Run the command with --help to see its arguments.",
  ),
  RELAIS_ERR_INTERNAL_BUG: spec(
    500,
    "Internal error",
    "A bug: report it with the log line that carries this code.",
  ),
  // ---- DB: storage, migrations ----
  RELAIS_ERR_DB_URL_INVALID: spec(
    400,
    "RELAIS_DATABASE_URL is not a valid postgres:// URL",
    "Use postgres://user:password@host:port/database, or unset it to use the embedded database.",
  ),
  RELAIS_ERR_DB_UNAVAILABLE: spec(
    503,
    "The database cannot be reached",
    "Check that PostgreSQL is running and RELAIS_DATABASE_URL points to it; Relais retries on its own.",
    true,
  ),
  RELAIS_ERR_DB_QUERY: spec(
    500,
    "A database statement failed",
    "See the SQLSTATE in the details; a bug unless the schema was changed by hand.",
  ),
  RELAIS_ERR_DB_MIGRATION: spec(
    500,
    "A migration failed",
    "The database was left as before the failing migration; read the cause and run `relais migrate` again.",
  ),
  RELAIS_ERR_DB_CONFLICT: spec(
    409,
    "The record already exists",
    "Use a different unique key (JID, federated id, name) or update the existing record.",
  ),
  RELAIS_ERR_DB_NOT_FOUND: spec(404, "No such record", "List the records to find the right id."),
  RELAIS_ERR_DB_REFERENCE: spec(
    400,
    "The record refers to a missing record",
    "Create the user, app or user app it names first.",
  ),
  RELAIS_ERR_DB_IN_USE: spec(
    409,
    "The record is still referred to by other records",
    "Remove the consumers or user apps that use it first (list them with `relais consumer list`).",
  ),
  // ---- SECRET: credential encryption ----
  RELAIS_ERR_SECRET_KEY_MISSING: spec(
    400,
    "RELAIS_SECRET_KEY is required with a server database",
    "Set RELAIS_SECRET_KEY to 32 random bytes in base64: `openssl rand -base64 32`.",
  ),
  RELAIS_ERR_SECRET_KEY_INVALID: spec(
    400,
    "RELAIS_SECRET_KEY is not 32 bytes of base64",
    "Generate one with `openssl rand -base64 32`.",
  ),
  RELAIS_ERR_SECRET_KEY_WRONG: spec(
    400,
    "Stored credentials cannot be decrypted with this key",
    "Start with the key the credentials were written with, or re-encrypt them with `relais secrets rotate`.",
  ),
  RELAIS_ERR_SECRET_KEY_FILE: spec(
    500,
    "The key file in the data directory cannot be read or written",
    "Check the owner and mode (0600) of RELAIS_DATA_DIR/secret.key, or set RELAIS_SECRET_KEY.",
  ),
  // ---- MODEL: providers, services, resources, values ----
  RELAIS_ERR_MODEL_NOT_FOUND: spec(
    404,
    "No such provider, service or resource",
    "Describe the parent (GET /sensinact/providers/…) to list what exists and what you may see.",
  ),
  RELAIS_ERR_MODEL_INVALID_NAME: spec(
    400,
    "Invalid provider, service or resource name",
    "Use 1 to 64 characters from A-Z a-z 0-9 - : . _ starting with a letter or digit; no '/' inside a name.",
  ),
  RELAIS_ERR_MODEL_INVALID_PATH: spec(
    400,
    "Invalid resource path",
    "Write paths as /provider/service/resource (or a prefix of it).",
  ),
  RELAIS_ERR_MODEL_CONFLICT: spec(
    409,
    "The resource already exists with another kind, value type or owner",
    "Keep the declared kind and value type, or remove the resource first.",
  ),
  // ---- ACCESS: access methods, subscriptions, tasks ----
  RELAIS_ERR_ACCESS_TYPE_MISMATCH: spec(
    400,
    "The value does not match the resource's value type",
    "Send a value of the type in details.expected (see the resource description).",
  ),
  RELAIS_ERR_ACCESS_NOT_ALLOWED: spec(
    405,
    "This access method does not apply to this kind of resource",
    "SET applies to PROPERTY resources only, ACT to ACTION resources; sensors and state variables change only from their connector.",
  ),
  RELAIS_ERR_ACCESS_BAD_PARAMETERS: spec(
    400,
    "Missing, unknown or mistyped action parameters",
    "Send exactly the parameters listed in the action's description, with their types.",
  ),
  RELAIS_ERR_ACCESS_BAD_CONDITION: spec(
    400,
    "Invalid subscription condition",
    "Use operators = != < <= > >= changed; every operator but changed needs an operand (a number for < <= > >=).",
  ),
  RELAIS_ERR_ACCESS_SUBSCRIPTION_LIMIT: spec(
    429,
    "Too many subscriptions",
    "Unsubscribe what you no longer need, or raise the per-caller / global subscription limit.",
  ),
  RELAIS_ERR_ACCESS_SUBSCRIPTION_NOT_FOUND: spec(
    404,
    "No such subscription",
    "Use the subscriptionId returned by SUBSCRIBE, as the caller who subscribed.",
  ),
  RELAIS_ERR_ACCESS_UNAVAILABLE: spec(
    503,
    "The connector that owns this resource is not running",
    "Check the connector's status and logs; retry once it is started.",
    true,
  ),
  RELAIS_ERR_ACCESS_ACTION_FAILED: spec(
    502,
    "The connector failed to carry out the request",
    "Read the cause in the details and the connector's logs.",
  ),
  // ---- SECURITY: users, tokens, policy ----
  RELAIS_ERR_SECURITY_UNAUTHENTICATED: spec(
    401,
    "Authentication required",
    "Send Authorization: Bearer <token> or Basic user:password.",
  ),
  RELAIS_ERR_SECURITY_BAD_CREDENTIALS: spec(
    401,
    "Unknown user, wrong password, or unknown or expired token",
    "Check the credentials; create a new token with `relais token create` if yours expired.",
  ),
  RELAIS_ERR_SECURITY_FORBIDDEN: spec(
    403,
    "The policy does not allow this caller to use this access method here",
    "Ask an administrator for a rule granting the method on this path (policy tree).",
  ),
  RELAIS_ERR_SECURITY_BAD_POLICY: spec(
    400,
    "The policy document is invalid",
    "Fix the node named in details.path; methods are DESCRIBE GET SET ACT SUBSCRIBE UNSUBSCRIBE CREATE, levels ANONYMOUS AUTHENTICATED ADMIN OWNER NONE.",
  ),
  RELAIS_ERR_SECURITY_ACCOUNT_EXISTS: spec(
    409,
    "An account with this name already exists",
    "Choose another name or update the existing account.",
  ),
  RELAIS_ERR_SECURITY_ACCOUNT_NOT_FOUND: spec(
    404,
    "No such account",
    "List the accounts to find the right name.",
  ),
  RELAIS_ERR_SECURITY_WEAK_PASSWORD: spec(
    400,
    "The password is too short",
    "Use a password of at least 8 characters.",
  ),
  // ---- SENML: RFC 8428 codec ----
  RELAIS_ERR_SENML_SYNTAX: spec(
    400,
    "The SenML input is not well-formed JSON, CBOR or XML",
    "Check the representation (--in json|cbor|xml) and the bytes near the reported position.",
  ),
  RELAIS_ERR_SENML_NOT_A_PACK: spec(
    400,
    "The SenML input is not a pack: an array of one or more records (objects/maps/senml elements)",
    'Send a non-empty array of records, e.g. [{"n":"p/s/r","v":1}] (RFC 8428 §4, §5).',
  ),
  RELAIS_ERR_SENML_FIELD_TYPE: spec(
    400,
    "A SenML field has the wrong type or is not a finite number",
    "Use the types of RFC 8428 §5 Table 4: strings for bn/bu/n/u/vs, finite numbers for bt/bv/bs/v/s/t/ut, a boolean for vb, a positive integer for bver.",
  ),
  RELAIS_ERR_SENML_NAME: spec(
    400,
    "The resolved SenML name is empty or uses characters outside RFC 8428 §4.5.1",
    "Use only A-Z a-z 0-9 - : . / _ in bn + n, starting with a letter or digit.",
  ),
  RELAIS_ERR_SENML_NO_VALUE: spec(
    400,
    "A SenML record has neither a value nor a sum",
    "Give each record one of v, vs, vb, vd, or a sum s (RFC 8428 §4.2, §4.6).",
  ),
  RELAIS_ERR_SENML_MULTIPLE_VALUES: spec(
    400,
    "A SenML record has more than one value field",
    "Keep exactly one of v, vs, vb, vd per record (RFC 8428 §4.2).",
  ),
  RELAIS_ERR_SENML_MUST_UNDERSTAND: spec(
    400,
    "A SenML record uses a must-understand field (label ending in _) that Relais does not understand",
    "Remove the field or send it to a receiver that implements that extension (RFC 8428 §4.4).",
  ),
  RELAIS_ERR_SENML_VERSION: spec(
    400,
    "The SenML version (bver) is not supported or differs between records of one pack",
    "Use bver 10 (or omit it), the same in every record of the pack (RFC 8428 §4.4).",
  ),
  RELAIS_ERR_SENML_BASE64: spec(
    400,
    "A SenML data value (vd) is not unpadded base64url",
    "Encode vd with the URL-safe alphabet of RFC 4648 §5 and no '=' padding (RFC 8428 §5).",
  ),
  RELAIS_ERR_SENML_XML_FORBIDDEN: spec(
    400,
    "The SenML XML uses a forbidden construct (DOCTYPE, entity, processing instruction, CDATA or a foreign namespace)",
    'Send plain <sensml xmlns="urn:ietf:params:xml:ns:senml"> with <senml/> children and attributes only (RFC 8428 §7).',
  ),
  RELAIS_ERR_SENML_XML_UNREPRESENTABLE: spec(
    400,
    "A SenML string contains a character XML 1.0 cannot carry",
    "Use JSON or CBOR for this pack, or remove control characters from the string.",
  ),
  RELAIS_ERR_SENML_TOO_LARGE: spec(
    400,
    "The SenML input is larger than the configured limit",
    "Split the pack into smaller packs, or raise the limit where it is configured.",
  ),
  RELAIS_ERR_SENML_RECORD_TOO_LARGE: spec(
    400,
    "A single SenML record does not fit under the pack size limit",
    "Shorten the value (large strings or binary data) or raise the pack size limit.",
  ),
  RELAIS_ERR_SENML_FULL_NAME: spec(
    400,
    "The SenML name is not provider/service/resource",
    "Name each record with three non-empty segments: bn + n = provider/service/resource.",
  ),
  RELAIS_ERR_SENML_VALUE_TYPE: spec(
    400,
    "The value does not match its type or the type has no SenML value field",
    "Use boolean, string, a number type, binary/bytes (Uint8Array) or object/json for the value type.",
  ),
  RELAIS_ERR_SENML_TIME: spec(
    400,
    "The timestamp cannot be written as an absolute SenML time",
    "Use a finite timestamp after 1978-07-04 (2^28 s, RFC 8428 §4.5.3); earlier values read as relative times.",
  ),
  // ---- XMPP: transport ----
  RELAIS_ERR_XMPP_OFFLINE: spec(
    503,
    "Not connected to the XMPP server; the stanza was not sent",
    "Nothing to do: the transport reconnects with backoff and the Outbox resends. Check RELAIS_XMPP_SERVICE and that the server runs if it lasts.",
    true,
  ),
  RELAIS_ERR_XMPP_CONNECT_FAILED: spec(
    503,
    "The XMPP server cannot be reached or dropped the connection",
    "Nothing to do: the transport reconnects with backoff. Check the server address, port and firewall if it lasts.",
    true,
  ),
  RELAIS_ERR_XMPP_AUTH_FAILED: spec(
    401,
    "The XMPP server refused the gateway's credentials",
    "Check RELAIS_XMPP_JID and RELAIS_XMPP_PASSWORD and that the account exists on the server.",
  ),
  RELAIS_ERR_XMPP_INSECURE: spec(
    400,
    "Refusing to authenticate without TLS to an XMPP server outside loopback",
    "Enable STARTTLS or direct TLS (xmpps://) on the server, or allow plaintext explicitly (allowInsecure) on a trusted network only.",
  ),
  RELAIS_ERR_XMPP_BAD_JID: spec(
    400,
    "Not a valid JID",
    "Use a bare JID like gateway@example.org (local part, @, domain).",
  ),
  RELAIS_ERR_XMPP_BAD_STANZA: spec(
    400,
    "The message is not a federation message: no body, or a malformed element",
    "Send one <body> with the SenML pack (CONTRACTS §4); other XMPP messages are refused.",
  ),
  RELAIS_ERR_XMPP_STANZA_TOO_LARGE: spec(
    413,
    "The incoming message body is larger than this gateway accepts",
    "Split packs under the limit on the sending side (federation.stanzaLimit), or raise the receiver's limit.",
  ),
  // ---- FED: federation, consumers, inbox/outbox, jobs ----
  RELAIS_ERR_FED_UNKNOWN_SENDER: spec(
    403,
    "The message comes from a JID that is not a registered App",
    "Register the sender with `relais app add JID` if it is a partner; otherwise nothing to do (the message was refused and audited).",
  ),
  RELAIS_ERR_FED_UNKNOWN_USER: spec(
    403,
    "The message names no federated user this gateway knows, and its App has no default user",
    "Register the user and its UserApp (`relais user add`, `relais userapp set`) or give the App a default user.",
  ),
  RELAIS_ERR_FED_FORBIDDEN_RECORD: spec(
    403,
    "A record writes data outside what the target user may SET on this gateway",
    "Grant the user's local account SET on that branch, or send only data the user may write.",
  ),
  RELAIS_ERR_FED_BAD_PACK: spec(
    400,
    "The message body is not a valid SenML pack for this gateway",
    "Send one SenML JSON pack (RFC 8428) whose full names are provider/service/resource.",
  ),
  RELAIS_ERR_FED_PEER_REJECTED: spec(
    422,
    "The receiving gateway refused the message permanently",
    "Read last_error on the dead-lettered Outbox row, fix the cause (rights, registration, mapping), then `relais outbox retry ID`.",
  ),
  RELAIS_ERR_FED_PEER_UNAVAILABLE: spec(
    503,
    "The receiving gateway or the XMPP server could not take the message now",
    "Nothing to do: the Outbox resends with backoff. Check that the peer gateway is running if it lasts.",
    true,
  ),
  RELAIS_ERR_FED_UNCONFIRMED: spec(
    504,
    "No delivery receipt arrived in time",
    "Nothing to do: the Outbox resends with the same message id. Check the peer and the XMPP server if it lasts.",
    true,
  ),
  RELAIS_ERR_FED_OVERSIZE: spec(
    413,
    "A SenML record does not fit in one stanza under the configured limit",
    "Raise the stanza limit (config federation.stanzaLimit and the XMPP server's max_stanza_size) or send smaller values.",
  ),
  RELAIS_ERR_FED_SERVER_REFUSED: spec(
    413,
    "The XMPP server ended the stream on this message, sent alone (typically larger than its max_stanza_size)",
    "Keep federation.stanzaLimit under the server's max_stanza_size (new packs then fit); raise the server's limit to deliver this one, then `relais outbox retry ID`.",
  ),
  RELAIS_ERR_FED_APPLY_FAILED: spec(
    503,
    "The message could not be applied to the local system now; it waits in the Inbox",
    "Nothing to do: Fetch Inbox applies it later. If it lasts, check the database and the log line with the cause.",
    true,
  ),
  RELAIS_ERR_FED_UNKNOWN_JOB: spec(
    400,
    "No such federation job",
    "Use one of push-outbox, fetch-outbox, fetch-inbox.",
  ),
  RELAIS_ERR_FED_JOB_BUSY: spec(
    409,
    "The job is already running (here or on another instance)",
    "Wait for the running job to finish, then run it again.",
    true,
  ),
  RELAIS_ERR_FED_CONSUMER_INVALID: spec(
    400,
    "The consumer's source selector or id mapping is not valid",
    "Use a selector like `meter-*/power/*` (three segments, `*` wildcards) and a mapping naming provider (and optionally service/resource).",
  ),
  RELAIS_ERR_FED_SCHEDULE_INVALID: spec(
    400,
    "A job schedule is not a valid cron pattern",
    "Use a 5- or 6-field cron pattern (seconds first when 6), e.g. `*/10 * * * * *`.",
  ),
  RELAIS_ERR_FED_ROW_STATE: spec(
    409,
    "The Outbox/Inbox row is not in a state that allows this operation",
    "List the row to see its status: only dead or pending rows can be retried, and rows being sent cannot be dropped.",
  ),
  // ---- HTTP: northbound API ----
  RELAIS_ERR_HTTP_BAD_REQUEST: spec(
    400,
    "The request is malformed",
    "Send valid JSON matching the documented schema (see /docs); the details name the offending part.",
  ),
  RELAIS_ERR_HTTP_NOT_FOUND: spec(404, "No such route", "Check the path and method against /docs."),
  RELAIS_ERR_HTTP_BODY_TOO_LARGE: spec(
    413,
    "The request body exceeds the 1 MiB limit",
    "Send smaller requests; split large SenML packs into several.",
  ),
  RELAIS_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE: spec(
    415,
    "Unsupported Content-Type",
    "Send application/json (or the media type the route documents in /docs).",
  ),
  RELAIS_ERR_HTTP_UNAUTHENTICATED: spec(
    401,
    "Authentication required or credentials rejected",
    "Send Authorization: Bearer <token> or Basic user:password with valid credentials.",
  ),
  RELAIS_ERR_HTTP_FORBIDDEN: spec(
    403,
    "The caller lacks the access level this route needs",
    "Use an account with the ADMIN level for /api/v1 routes.",
  ),
  RELAIS_ERR_HTTP_RATE_LIMITED: spec(
    429,
    "Too many failed logins from this client",
    "Wait for the number of seconds in the Retry-After header, then retry with correct credentials.",
    true,
  ),
  RELAIS_ERR_HTTP_SUBSCRIPTION_LIMIT: spec(
    429,
    "Too many subscriptions on this connection",
    "Unsubscribe from resources you no longer need, or open another connection.",
  ),
  RELAIS_ERR_HTTP_CALLBACK_REFUSED: spec(
    400,
    "The callback URL is not allowed",
    "Use an http(s) URL whose host resolves to public addresses, or ask the operator to allow-list it.",
  ),
  RELAIS_ERR_HTTP_CALLBACK_FAILED: spec(
    502,
    "A subscription callback could not be delivered",
    "Check that the callback URL answers 2xx; Relais retries with backoff before giving up.",
    true,
  ),
  RELAIS_ERR_HTTP_UNKNOWN_JOB: spec(
    404,
    "No such job",
    "Use one of push-outbox, fetch-outbox, fetch-inbox (or a job the gateway registered).",
  ),
  RELAIS_ERR_HTTP_UNAVAILABLE: spec(
    503,
    "This feature is not available on this gateway",
    "The gateway was started without the component this route needs; see /health/ready.",
  ),
  RELAIS_ERR_HTTP_STARTING: spec(
    503,
    "The gateway is starting (waiting for its database)",
    "Retry after the Retry-After delay; /health/ready says which component is not up yet.",
    true,
  ),
  // ---- CONNECTOR: local systems ----
  RELAIS_ERR_CONNECTOR_CONFIG_INVALID: spec(
    400,
    "The connector configuration is invalid",
    "Read the listed problems (each names a path in the connector's JSON document) and fix the `config` entry; see docs/connectors.md.",
  ),
  RELAIS_ERR_CONNECTOR_URL_FORBIDDEN: spec(
    400,
    "The connector URL is outside the allow-list or resolves to a forbidden address",
    "Add the host to the connector's allowHosts; link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10) are always refused.",
  ),
  RELAIS_ERR_CONNECTOR_TIMEOUT: spec(
    504,
    "The local system did not answer in time",
    "Check that the local system is up and reachable; raise timeoutMs if it is just slow. The connector retries with backoff.",
    true,
  ),
  RELAIS_ERR_CONNECTOR_UNREACHABLE: spec(
    503,
    "The local system cannot be reached",
    "Check the URL or broker address and that the local system is running; the connector retries with backoff.",
    true,
  ),
  RELAIS_ERR_CONNECTOR_UPSTREAM_STATUS: spec(
    502,
    "The local system answered with an error status",
    "Read the status in the details; check the credentials (401/403) and the URL (404) of the connector.",
    true,
  ),
  RELAIS_ERR_CONNECTOR_PAYLOAD_INVALID: spec(
    502,
    "The local system sent a payload that cannot be read",
    "The payload is not JSON/SenML or not of the expected shape; check the connector's format and the local system's output.",
  ),
  RELAIS_ERR_CONNECTOR_MAPPING_FAILED: spec(
    422,
    "A connector mapping could not produce a value",
    "Check the JSON pointer or JSONata expression named in the details against a sample payload.",
  ),
  RELAIS_ERR_CONNECTOR_NO_COMMAND: spec(
    404,
    "No connector command is configured for this resource and method",
    "Add a SET or ACT entry for the resource to the connector's commands.",
  ),
  RELAIS_ERR_CONNECTOR_NOT_RUNNING: spec(
    503,
    "The connector is not running",
    "Check /health/ready and the connector's last error; it restarts on its own or when its configuration is fixed.",
    true,
  ),
  RELAIS_ERR_CONNECTOR_CREDENTIALS_MISSING: spec(
    400,
    "The connector's credentials cannot be found",
    "Set the UserApp credentials the connector's auth names (`relais userapp set`), or fix the reference.",
  ),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERRORS, code);
}

/** The one error type of Relais: a stable code, a message, details for the user, and a cause. */
export class RelaisError extends Error {
  override readonly name = "RelaisError";
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message?: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message ?? ERRORS[code].message, options);
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERRORS[this.code].status;
  }

  get retryable(): boolean {
    return ERRORS[this.code].retryable;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return Object.keys(this.details).length > 0
      ? { code: this.code, message: this.message, details: { ...this.details } }
      : { code: this.code, message: this.message };
  }
}

export function isRelaisError(e: unknown): e is RelaisError {
  return e instanceof RelaisError;
}

/**
 * A stream that is gone (retryable): `details.streamError` names the condition of the stream
 * error the server ended it with, if it sent one.
 */
export function streamEnded(
  code: "RELAIS_ERR_XMPP_OFFLINE" | "RELAIS_ERR_XMPP_CONNECT_FAILED",
  why: string,
  streamError: string | null,
): RelaisError {
  return streamError === null
    ? new RelaisError(code, why)
    : new RelaisError(code, `${why}: stream error ${streamError}`, { streamError });
}
