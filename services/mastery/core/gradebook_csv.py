"""A OneRoster 1.2 gradebook as the bulk CSV files: each file's columns in the specification's
order, a GUIDRef as its `...SourcedId`, the learning objectives and score scales of line items
and results in their own link files, and the manifest naming every file (`bulk` for those sent,
`absent` for the rostering ones). Pure: the rows; the adapter writes and zips them.
"""

from services.mastery.core.gradebook import Gradebook, LineItem, Result

COLUMNS: dict[str, tuple[str, ...]] = {
    "categories.csv": ("sourcedId", "status", "dateLastModified", "title", "weight"),
    "scoreScales.csv": ("sourcedId", "status", "dateLastModified", "title", "type",
                        "courseSourcedId", "classSourcedId", "scoreScaleValue"),
    "lineItems.csv": ("sourcedId", "status", "dateLastModified", "title", "description",
                      "assignDate", "dueDate", "classSourcedId", "categorySourcedId",
                      "gradingPeriodSourcedId", "resultValueMin", "resultValueMax",
                      "schoolSourcedId"),
    "lineItemLearningObjectiveIds.csv": ("lineItemSourcedId", "source", "learningObjectiveId"),
    "lineItemScoreScales.csv": ("lineItemSourcedId", "scoreScaleSourcedId"),
    "results.csv": ("sourcedId", "status", "dateLastModified", "lineItemSourcedId",
                    "studentSourcedId", "scoreStatus", "score", "textScore", "scoreDate",
                    "comment", "missing", "incomplete"),
    "resultLearningObjectiveIds.csv": ("resultSourcedId", "source", "learningObjectiveId",
                                       "score", "textScore"),
    "resultScoreScales.csv": ("resultSourcedId", "scoreScaleSourcedId"),
}  # fmt: skip
ROSTERING_FILES = ("academicSessions", "classes", "classResources", "courses", "courseResources",
                   "demographics", "enrollments", "orgs", "resources", "users")  # fmt: skip
MANIFEST = "manifest.csv"


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def _line_item(item: LineItem) -> list[str]:
    return [
        item.sourced_id, item.status, item.date_last_modified, item.title, item.description,
        item.assign_date, item.due_date, item.class_.sourced_id, item.category.sourced_id,
        item.grading_period.sourced_id if item.grading_period else "",
        _number(item.result_value_min), _number(item.result_value_max),
        item.school.sourced_id if item.school else "",
    ]  # fmt: skip


def _result(result: Result) -> list[str]:
    return [
        result.sourced_id, result.status, result.date_last_modified,
        result.line_item.sourced_id, result.student.sourced_id, result.score_status,
        _number(result.score), result.text_score or "", result.score_date, "",
        result.missing or "", result.incomplete or "",
    ]  # fmt: skip


def bulk_files(book: Gradebook) -> dict[str, list[list[str]]]:
    """Each file's rows, its header first; the manifest last."""
    files: dict[str, list[list[str]]] = {name: [list(columns)] for name, columns in COLUMNS.items()}
    for category in book.categories:
        files["categories.csv"].append(
            [category.sourced_id, category.status, category.date_last_modified, category.title, ""]
        )
    for scale in book.score_scales:
        values = ",".join(
            f"{v.item_value_l_h_s}:{v.item_value_r_h_s}" for v in scale.score_scale_value
        )
        files["scoreScales.csv"].append([scale.sourced_id, scale.status, scale.date_last_modified,
                                         scale.title, scale.type, "", scale.class_.sourced_id,
                                         values])  # fmt: skip
    for item in book.line_items:
        files["lineItems.csv"].append(_line_item(item))
        files["lineItemScoreScales.csv"].append([item.sourced_id, item.score_scale.sourced_id])
        for objectives in item.learning_objective_set or []:
            files["lineItemLearningObjectiveIds.csv"] += [
                [item.sourced_id, objectives.source, guid]
                for guid in objectives.learning_objective_ids
            ]
    for result in book.results:
        files["results.csv"].append(_result(result))
        files["resultScoreScales.csv"].append([result.sourced_id, result.score_scale.sourced_id])
        for found in result.learning_objective_set or []:
            files["resultLearningObjectiveIds.csv"] += [
                [result.sourced_id, found.source, r.learning_objective_id, _number(r.score),
                 r.text_score or ""]
                for r in found.learning_objective_results
            ]  # fmt: skip
    files[MANIFEST] = manifest()
    return files


def manifest() -> list[list[str]]:
    rows = [["propertyName", "value"], ["manifest.version", "1.0"], ["oneroster.version", "1.2"]]
    rows += [[f"file.{name}", "absent"] for name in ROSTERING_FILES]
    rows += [[f"file.{name.removesuffix('.csv')}", "bulk"] for name in COLUMNS]
    rows.append(["source.systemName", "mastery"])
    return rows
