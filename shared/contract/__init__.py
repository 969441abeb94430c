"""What other teams may depend on: events, grading vocabulary, ids, the CloudEvents envelope.

Pure: imports no I/O module (enforced by import-linter)."""
