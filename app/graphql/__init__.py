"""The GraphQL layer shared by the features: schema composition, context, errors,
scalars, permissions and limits."""
