"""Words for people: a service's Jinja2 templates with its gettext catalogs (Babel), numbers and
dates in the reader's locale and the school's time zone.

A service keeps its templates in one directory and its catalogs, compiled from `.po` files by
`scripts/setup.sh`, under `locales/<language>/LC_MESSAGES/messages.mo`. Templates are reached as
`html/<file>` (autoescaped) or `text/<file>` (not), so one file of shared macros serves both forms.
One Jinja2 environment per language, built on first use, so rendering reads nothing from disk
after the first page or email in a language.
"""

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import babel.dates
import babel.numbers
import jinja2
from babel.support import Translations


class LocalizedTemplates:
    """The templates of `templates` in each of `languages` (the first is the fallback)."""

    def __init__(self, templates: Path, locales: Path, languages: tuple[str, ...]) -> None:
        self._templates = templates
        self._locales = locales
        self._languages = languages
        self._environments: dict[str, jinja2.Environment] = {}

    def language_of(self, tag: str) -> str:
        """The catalog for a BCP 47 tag: its primary language when there is one (es-MX reads
        es), else the first."""
        primary = tag.split("-", 1)[0].lower()
        return primary if primary in self._languages else self._languages[0]

    def environment(self, language: str) -> jinja2.Environment:
        if language not in self._languages:
            language = self._languages[0]
        if language not in self._environments:
            self._environments[language] = self._build(language)
        return self._environments[language]

    def _build(self, language: str) -> jinja2.Environment:
        environment = jinja2.Environment(
            # The shared macros are compiled once per form, escaping under html/ only:
            # autoescaping is decided per template name, and a macro escapes as its file does.
            loader=_FormLoader(self._templates),
            autoescape=lambda name: (name or "").startswith("html/"),  # noqa: S701 - on for html/
            undefined=jinja2.StrictUndefined,
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        translations = Translations.load(str(self._locales), [language], "messages")
        # A missing catalog must fail loudly, not quietly show English to a Spanish reader.
        if not isinstance(translations, Translations):
            raise FileNotFoundError(f"no compiled catalog for {language!r} in {self._locales}")
        environment.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
        environment.filters["number"] = lambda value: babel.numbers.format_decimal(
            value, format="#,##0.##", locale=language
        )
        environment.filters["day"] = lambda value, time_zone, form="long": local_day(
            value, time_zone, language, form
        )
        return environment


class _FormLoader(jinja2.FileSystemLoader):
    """Serves `html/<file>` and `text/<file>` from the one directory, so each keeps its name."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        form, _, name = template.partition("/")
        if form not in ("html", "text"):
            raise jinja2.TemplateNotFound(template)
        return super().get_source(environment, name)


def local_day(instant: datetime, time_zone: str, language: str, form: str = "long") -> str:
    """The calendar day of `instant` where the school is, in the reader's words."""
    return babel.dates.format_date(
        instant.astimezone(ZoneInfo(time_zone)).date(), format=form, locale=language
    )
