"""Evidently's data summary, naming the target and prediction the data definition declares.

Evidently 0.7 renders the summary's dataset table without the definition's task, so it
reads "target column: None, prediction column: None" whatever is declared. This preset
renders that table with the task, the way Evidently's classification and regression
sections read their columns. Imported only when a report is built (it imports Evidently).
"""

from __future__ import annotations

from evidently.core.report import Context, _default_input_data_generator
from evidently.legacy.metrics import DatasetSummaryMetric
from evidently.legacy.model.widget import BaseWidgetInfo, link_metric
from evidently.metrics.regression import _gen_regression_input_data
from evidently.presets import DataSummaryPreset


class TaskDataSummary(DataSummaryPreset):
    """`DataSummaryPreset` whose dataset table names the declared target and prediction."""

    def render(self, context: Context, child_widgets=None) -> list[BaseWidgetInfo]:
        definition = context.data_definition
        if self._dataset_stats is None or self._text_evals is None:
            return super().render(context, child_widgets)
        tasks = definition.regression or definition.classification or []
        if not tasks:
            return super().render(context, child_widgets)
        generator = (
            _gen_regression_input_data if definition.regression else _default_input_data_generator
        )
        _, widgets = context.get_legacy_metric(DatasetSummaryMetric(), generator, tasks[0].name)
        for metric in self._dataset_stats.list_metrics(context):
            link_metric(widgets, metric)
        return widgets + self._text_evals.render(context)
