"""A OneRoster 1.2 CSV bulk zip imported whole: unpacked, read by the pure core, its changes
recorded in one transaction. The HTTP route and `mastery roster import` both call `import_zip`.
"""

import io
import zipfile
import zlib
from collections import Counter
from datetime import datetime
from pathlib import PurePosixPath

import msgspec

from services.mastery.adapters.roster_store import TABLES, record_changes
from services.mastery.core.oneroster import LineError, RosterImport, read_roster
from services.mastery.core.oneroster_fields import MANIFEST, ROSTER_FILES
from services.mastery.core.roster import OnRecord, roster_changes
from shared.contract.events.roster import RosterChange, RosterRemoved, kind_of
from shared.platform.postgres import DbConnection

# What a zip may unpack to: a district's roster is a few megabytes; a zip bomb is refused.
MAX_UNPACKED_BYTES = 200 * 1024 * 1024


class ImportSummary(msgspec.Struct, frozen=True, kw_only=True):
    changes: int
    defined: dict[str, int]
    removed: dict[str, int]
    modes: dict[str, str]


def unzip(data: bytes) -> dict[str, bytes] | list[LineError]:
    """The roster files by name (at the zip's root or in one folder), or why the zip is bad."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return _unpacked(archive)
    except zipfile.BadZipFile:
        return [LineError(file="(zip)", line=0, field=None, message="not a zip file")]
    # A damaged member (bad deflate data, a wrong CRC, cut short), an encrypted one, or a
    # compression method the standard library lacks.
    except (zlib.error, EOFError, RuntimeError, NotImplementedError) as error:
        message = f"a file in the zip cannot be read: {type(error).__name__}"
        return [LineError(file="(zip)", line=0, field=None, message=message)]


def _unpacked(archive: zipfile.ZipFile) -> dict[str, bytes] | list[LineError]:
    infos = [info for info in archive.infolist() if not info.is_dir()]
    if sum(info.file_size for info in infos) > MAX_UNPACKED_BYTES:
        message = f"unpacks to more than {MAX_UNPACKED_BYTES} bytes"
        return [LineError(file="(zip)", line=0, field=None, message=message)]
    wanted = {MANIFEST, *ROSTER_FILES}
    return {
        name: archive.read(info)
        for info in infos
        if (name := PurePosixPath(info.filename).name) in wanted
    }


async def import_zip(
    connection: DbConnection, tenant_id: str, data: bytes, now: datetime
) -> ImportSummary | list[LineError]:
    files = unzip(data)
    if isinstance(files, list):
        return files
    read = read_roster(files, tenant_id)
    if isinstance(read, list):
        return read

    def decide(on_record: OnRecord) -> list[RosterChange]:
        return roster_changes(on_record, read, tenant_id)

    changes = await record_changes(connection, tenant_id, decide, now, _kinds(read))
    return summary(changes, read)


def _kinds(read: RosterImport) -> list[str]:
    """The kinds whose record the changes depend on: those the import names."""
    return [kind for kind in TABLES if kind in read.modes]


def summary(changes: list[RosterChange], read: RosterImport) -> ImportSummary:
    defined = Counter(kind_of(c) for c in changes if not isinstance(c, RosterRemoved))
    removed = Counter(c.kind for c in changes if isinstance(c, RosterRemoved))
    return ImportSummary(
        changes=len(changes), defined=dict(defined), removed=dict(removed), modes=read.modes
    )
