"""Benchmark tasks: one module per task builds its store from raw files; a registry of specs.

    from dnabench.tasks import get_task
    spec = get_task("methyl96")     # input length, label kind, loss, metrics, split rule
    store = spec.build(paths, genome, "methyl96_store")

Builders: `dnabench.tasks.promvary.build_promvary` / `build_promfix`,
`dnabench.tasks.methyl96.build_methyl96`, `dnabench.tasks.deepsea.build_deepsea` (DeepSEA's
919-label .mat files, paper 6.2). The other four tasks have specs but no builder yet.
"""

from dnabench.tasks.registry import TASKS, TaskSpec, get_task, list_tasks

__all__ = ["TASKS", "TaskSpec", "get_task", "list_tasks"]
