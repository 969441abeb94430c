from shared.platform.postgres import MigrationSet

MIGRATIONS = MigrationSet("notify", __name__)
