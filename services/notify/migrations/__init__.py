from shared.postgres import MigrationSet

MIGRATIONS = MigrationSet("notify", __name__)
