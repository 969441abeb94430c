"""Every component's numbered SQL migrations, in the order they apply."""

from services.attempts.migrations import MIGRATIONS as ATTEMPTS_MIGRATIONS
from services.mastery.migrations import MIGRATIONS as MASTERY_MIGRATIONS
from services.notify.migrations import MIGRATIONS as NOTIFY_MIGRATIONS
from shared.platform.postgres import SHARED_MIGRATIONS

ALL_MIGRATIONS = [SHARED_MIGRATIONS, ATTEMPTS_MIGRATIONS, MASTERY_MIGRATIONS, NOTIFY_MIGRATIONS]
