"""The operator's dashboard at `/dashboard`: a static page that signs an admin in and
shows `programMetrics` through the GraphQL API. It owns no tables."""
