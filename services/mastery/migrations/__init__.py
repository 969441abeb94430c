from shared.postgres import MigrationSet

MIGRATIONS = MigrationSet("mastery", __name__)
