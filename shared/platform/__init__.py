"""The platform the services run on: bus, consumer, outbox relay, PostgreSQL, HTTP, tenancy."""
