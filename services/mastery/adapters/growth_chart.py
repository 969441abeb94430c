"""A small growth chart per standard: an SVG drawn by pygal, to be placed inline in the report.

Three lines over the assessments in the order assessed: each assessment's score on the scale, the
standing after it, and the mastery threshold (dashed), on the standard's whole scale so that two
charts of one scale compare at a glance. pygal puts a script of its own in every chart (its
tooltips); the report runs no script, so it is taken out.
"""

from xml.etree import ElementTree

import pygal
from pygal.style import Style

from services.mastery.core.family_report import StandardReport

ASSESSMENT, STANDING, MASTERY = "#9ca3af", "#1d4ed8", "#16a34a"
_SVG = "http://www.w3.org/2000/svg"
_STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#374151",
    foreground_strong="#1f2937",
    foreground_subtle="#e5e7eb",
    colors=(ASSESSMENT, STANDING, MASTERY),
    font_family="Arial, Helvetica, sans-serif",
    label_font_size=15,
    major_label_font_size=15,
    legend_font_size=15,
    value_font_size=14,
    guide_stroke_color="#d1d5db",
    # The one major guide is the mastery threshold: drawn across the chart even for one point.
    major_guide_stroke_color=MASTERY,
    guide_stroke_dasharray="3,3",
    major_guide_stroke_dasharray="6,4",
)


class ChartWords:
    """The chart's words in the reader's language: its series and how a date reads on its axis."""

    def __init__(self, assessment: str, standing: str, mastery: str, title: str) -> None:
        self.assessment = assessment
        self.standing = standing
        self.mastery = mastery
        self.title = title


def growth_svg(standard: StandardReport, dates: list[str], words: ChartWords) -> str:
    """The chart of `standard`'s growth, `dates` labelling its assessments (oldest first)."""
    chart = pygal.Line(
        # Small, so that its words stay readable on a phone, where it is drawn at about 360 px.
        width=420,
        height=230,
        style=_STYLE,
        js=[],
        disable_xml_declaration=True,
        explicit_size=False,
        legend_at_bottom=True,
        range=(standard.scale_minimum, standard.scale_maximum),
        show_minor_x_labels=len(dates) <= 6,
        x_labels_major_count=6,
        truncate_label=-1,
        truncate_legend=-1,
        y_labels=_marks(standard),
        y_labels_major=[standard.mastery_threshold],
        dots_size=5,
        stroke_style={"width": 3},
        margin=6,
        margin_right=22,
        spacing=10,
        title=None,
    )
    chart.x_labels = dates
    chart.add(words.assessment, [point.assessment for point in standard.growth])
    chart.add(words.standing, [point.result for point in standard.growth])
    chart.add(
        words.mastery,
        [standard.mastery_threshold] * len(standard.growth),
        show_dots=False,
        stroke_style={"width": 2, "dasharray": "6,4"},
    )
    tree = chart.render_tree()
    return _without_scripts(tree, words.title)


def _marks(standard: StandardReport) -> list[float]:
    """The axis marks: the scale's ends and where each level starts."""
    starts = {level.min_score for level in standard.levels}
    return sorted({standard.scale_minimum, standard.scale_maximum, *starts})


def _without_scripts(root: ElementTree.Element, title: str) -> str:
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag in ("script", f"{{{_SVG}}}script"):
                parent.remove(child)
            elif child.tag in ("title", f"{{{_SVG}}}title") and parent is root:
                child.text = title
    root.set("role", "img")
    root.set("aria-label", title)
    ElementTree.register_namespace("", _SVG)
    return ElementTree.tostring(root, encoding="unicode")
