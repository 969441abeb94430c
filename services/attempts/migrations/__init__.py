from shared.postgres import MigrationSet

MIGRATIONS = MigrationSet("attempts", __name__)
