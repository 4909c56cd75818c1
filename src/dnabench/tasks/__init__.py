"""Benchmark tasks: one module per task holds its spec, its options and its build function.

    from dnabench.tasks import get_task, get_prepare
    spec = get_task("methyl96")            # input kind and length, label kind, loss, metrics, split
    store = get_prepare("methyl96")(files=[...], genome="hg38", out="stores/methyl96")

Library builders keep their own signatures too: `dnabench.tasks.promvary.build_promvary` /
`build_promfix`, `dnabench.tasks.methyl96.build_methyl96`, `dnabench.tasks.track7878.build_track7878`,
`dnabench.tasks.deepsea.build_deepsea`. The registry finds every task module by itself
(`dnabench.tasks.base` says what a module declares).
"""

from dnabench.data.task import TaskSpec
from dnabench.tasks.registry import get_prepare, get_task, list_tasks, prepare_commands, tasks

__all__ = ["TaskSpec", "get_prepare", "get_task", "list_tasks", "prepare_commands", "tasks"]
