"""Family emails in words: Jinja2 templates (`services/notify/templates`, HTML autoescaped), the
gettext catalogs compiled from `services/notify/locales` (Babel), dates and numbers in the
guardian's locale and the tenant's time zone.

The core decides what an email says (`EmailFacts`); this adapter reads templates and catalogs from
disk, which is why it is not the core. One Jinja2 environment per language, built once per
`Renderer`, so rendering reads nothing from disk after the first email in a language.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import babel.dates
import babel.numbers
import jinja2
from babel.support import Translations

from services.notify.core.messages import LANGUAGES, Email, EmailFacts, language_of

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LOCALES = Path(__file__).resolve().parent.parent / "locales"


class Renderer:
    def __init__(self, templates: Path = TEMPLATES, locales: Path = LOCALES) -> None:
        self._templates = templates
        self._locales = locales
        self._environments: dict[str, jinja2.Environment] = {}

    def render(self, facts: EmailFacts, to: str, reply_to: str = "") -> Email:
        """The email a guardian receives: subject, plain text and HTML, in `facts.language`."""
        environment = self._environment(facts.language)
        subject = environment.get_template("text/change_subject.txt").render(f=facts)
        return Email(
            to=to,
            subject=" ".join(subject.split()),
            body=environment.get_template("text/change.txt").render(f=facts),
            html=environment.get_template("html/change.html").render(f=facts),
            language=facts.language,
            reply_to=reply_to,
            unsubscribe_url=facts.unsubscribe_url,
        )

    def page(self, name: str, language: str, **values: object) -> str:
        """A web page of the service (`html/<name>`) in `language` (a BCP 47 tag)."""
        return (
            self._environment(language_of(language))
            .get_template(f"html/{name}")
            .render(**values, language=language_of(language))
        )

    def render_many(
        self,
        items: Sequence[EmailFacts],
        to: str,
        reply_to: str = "",
        *,
        kind: Literal["changes", "policy", "digest"] = "changes",
    ) -> Email:
        """One email of several changes, in the first's language: a student's standards netted
        after the grace delay, the standards a policy change moved, or a digest."""
        if len(items) == 1 and kind == "changes":
            return self.render(items[0], to, reply_to)
        environment = self._environment(items[0].language)
        values = {"items": items, "kind": kind}
        subject = environment.get_template("text/changes_subject.txt").render(values)
        subject = " ".join(subject.split())
        return Email(
            to=to,
            subject=subject,
            body=environment.get_template("text/changes.txt").render(values),
            html=environment.get_template("html/changes.html").render(values, subject=subject),
            language=items[0].language,
            reply_to=reply_to,
            unsubscribe_url=items[0].unsubscribe_url,
        )

    def _environment(self, language: str) -> jinja2.Environment:
        if language not in LANGUAGES:
            language = LANGUAGES[0]
        if language not in self._environments:
            self._environments[language] = self._build(language)
        return self._environments[language]

    def _build(self, language: str) -> jinja2.Environment:
        environment = jinja2.Environment(
            # The shared macros (parts.j2) are compiled once per form, escaping under html/ only:
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
        # A missing catalog must fail loudly, not quietly send English to a Spanish reader.
        if not isinstance(translations, Translations):
            raise FileNotFoundError(f"no compiled catalog for {language!r} in {self._locales}")
        environment.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
        environment.filters["number"] = lambda value: babel.numbers.format_decimal(
            value, format="#,##0.##", locale=language
        )
        environment.filters["day"] = lambda value, time_zone: _day(value, time_zone, language)
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


def _day(instant: datetime, time_zone: str, language: str) -> str:
    """The calendar day of `instant` where the school is, in the reader's words."""
    return babel.dates.format_date(
        instant.astimezone(ZoneInfo(time_zone)).date(), format="long", locale=language
    )
