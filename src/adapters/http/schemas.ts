/** TypeBox schemas shared by the route plugins; they also generate the OpenAPI document. */
import { Type, type Static, type TSchema } from "@sinclair/typebox";

export const Name = Type.String({ minLength: 1, maxLength: 256 });

export const ErrorMember = Type.Object(
  {
    code: Type.String({ description: "Stable error code (docs/errors.md)" }),
    message: Type.String(),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: true },
);

/** The seed's envelope; `response` on success, `error` on failure (CONTRACTS.md §3). */
export const Envelope = Type.Object(
  {
    response: Type.Optional(Type.Unknown()),
    error: Type.Optional(ErrorMember),
    triggered: Type.Optional(Type.Array(Type.Unknown())),
    statusCode: Type.Integer(),
    type: Type.String(),
    uri: Type.String(),
  },
  { additionalProperties: true },
);

/** Non-envelope error answer (admin API, health, unknown routes). */
export const ErrorBody = Type.Object(
  { error: ErrorMember, statusCode: Type.Integer() },
  { additionalProperties: true },
);

export const Parameter = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 256 }),
    type: Type.Optional(Type.String({ maxLength: 64 })),
    value: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: true },
);

export const ParametersBody = Type.Object(
  { parameters: Type.Optional(Type.Array(Parameter, { maxItems: 256 })) },
  { additionalProperties: true },
);
export type ParametersBody = Static<typeof ParametersBody>;

export const ProviderParams = Type.Object({ provider: Name });
export const ServiceParams = Type.Object({ provider: Name, service: Name });
export const ResourceParams = Type.Object({ provider: Name, service: Name, resource: Name });
export type ResourceParams = Static<typeof ResourceParams>;

/** Responses every route documents: the listed success schema plus our error body. */
export function replies(ok: Record<number, TSchema>, errors: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = { ...ok };
  for (const status of errors) out[status] = ErrorBody;
  return out;
}
