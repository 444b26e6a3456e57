"""Evidently's presets as a run's report shows them: the data summary naming the declared
target and prediction, and drift as the run's per-column scores with their distributions.

A report is built in the background within a time budget, and most of Evidently's time
goes into Plotly figures, so these presets leave out what costs seconds and says nothing
the page lacks:

- the summary's per-column statistics: each statistic draws its own distribution figure,
  several per column, and the drift section draws every column's distribution already;
- the drift preset's table, which computes every column's drift twice more with its own
  figures (the preset shows its per-column results instead);
- each column's "data drift" figure, its mean along the row index: a window's rows are in
  sample key order, a hash, so that index is no order of time and the figure shows none.

Evidently 0.7 renders the summary's dataset table without the definition's task, so it
reads "target column: None, prediction column: None" whatever is declared. `TaskDataSummary`
renders that table with the task, the way Evidently's classification and regression
sections read their columns. Imported only when a report is built (it imports Evidently).
"""

from __future__ import annotations

from evidently.core.container import MetricContainer
from evidently.core.report import Context, _default_input_data_generator
from evidently.legacy.metrics import DatasetSummaryMetric
from evidently.legacy.model.widget import BaseWidgetInfo
from evidently.metrics.column_statistics import ValueDriftCalculation
from evidently.metrics.regression import _gen_regression_input_data
from evidently.presets import DataDriftPreset


class TaskDataSummary(MetricContainer):
    """Evidently's dataset summary table (rows, columns, missing values, duplicates,
    constant columns), naming the declared target and prediction."""

    def generate_metrics(self, context: Context) -> list:
        return []

    def render(self, context: Context, child_widgets=None) -> list[BaseWidgetInfo]:
        definition = context.data_definition
        tasks = definition.regression or definition.classification or []
        regression = bool(definition.regression)
        generator = _gen_regression_input_data if regression else _default_input_data_generator
        task = tasks[0].name if tasks else None
        return context.get_legacy_metric(DatasetSummaryMetric(), generator, task)[1]


class ColumnDrift(DataDriftPreset):
    """`DataDriftPreset` shown as its own metrics: the drifted columns' count and share,
    then each column's drift score, method, threshold and distributions."""

    def render(self, context: Context, child_widgets=None) -> list[BaseWidgetInfo]:
        return [widget for _, widgets in child_widgets or [] for widget in widgets]


def _without_index_figure(render):
    def render_distributions(self, result, options, color_options):
        return render(self, result.copy(update={"scatter": None}), options, color_options)

    render_distributions.without_index_figure = True
    return render_distributions


# Evidently's column drift draws its widget inside its calculation, with no option to leave
# a figure out; this process builds only Driftwise's reports, so the render is replaced once.
if not getattr(ValueDriftCalculation._render, "without_index_figure", False):
    ValueDriftCalculation._render = _without_index_figure(ValueDriftCalculation._render)
