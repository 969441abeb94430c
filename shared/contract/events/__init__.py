"""Event schemas, one module per event family. Tags carry the version; classes never do."""
