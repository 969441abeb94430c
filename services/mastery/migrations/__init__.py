from shared.platform.postgres import MigrationSet

MIGRATIONS = MigrationSet("mastery", __name__)
