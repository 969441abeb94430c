from shared.platform.postgres import MigrationSet

MIGRATIONS = MigrationSet("attempts", __name__)
