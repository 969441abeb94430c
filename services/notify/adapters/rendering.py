"""Family emails in words: Jinja2 templates (`services/notify/templates`, HTML autoescaped), the
gettext catalogs compiled from `services/notify/locales` (Babel), dates and numbers in the
guardian's locale and the tenant's time zone.

The core decides what an email says (`EmailFacts`); this adapter reads templates and catalogs from
disk, which is why it is not the core. The environments (one per language, built once per
`Renderer`) are the platform's (`shared/platform/rendering.py`), which the family report shares.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import jinja2

from services.notify.core.messages import LANGUAGES, Email, EmailFacts, language_of
from shared.platform.rendering import LocalizedTemplates

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LOCALES = Path(__file__).resolve().parent.parent / "locales"


class Renderer:
    def __init__(self, templates: Path = TEMPLATES, locales: Path = LOCALES) -> None:
        self._localized = LocalizedTemplates(templates, locales, LANGUAGES)

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
        return self._localized.environment(language)
