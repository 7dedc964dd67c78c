/**
 * Response serializers compiled when a response first needs one, not when the
 * app is built. fastify compiles a fast-json-stringify function for every
 * status code of every route at start-up, and most of them (the error replies
 * of each route) are seldom or never sent: compiling them all was most of
 * the time buildApp took. The functions, and so the bodies, are the same.
 */
import SerializerSelector from '@fastify/fast-json-stringify-compiler';

type Factory = SerializerSelector.SerializerFactory;

/** fastify's own serializer factory, each route's compilation put off until its first reply. */
export function lazySerializerFactory(): Factory {
  const eager = SerializerSelector();
  return (externalSchemas, options) => {
    const compile = eager(externalSchemas, options);
    return (route) => {
      let serialize: SerializerSelector.Serializer | null = null;
      return (doc) => (serialize ??= compile(route))(doc);
    };
  };
}
