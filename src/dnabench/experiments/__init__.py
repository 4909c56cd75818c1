"""Experiments: a table of the paper as a config (tasks x models x grid x seeds), the plan of runs it
expands into, the runner that makes those run folders (skip, resume, one GPU each) and the results
table in the paper's layout.

    config.py    the YAML schema (typed; unknown keys are errors) and the shipped configs/
    plan.py      config -> ordered steps with their run folders, dependencies and estimated cost
    steps.py     what each kind of step does, and whether its folder is complete
    runner.py    run_benchmark: the steps in order, in-process or one subprocess per GPU
    results.py   finished runs -> tidy frame -> results.md / results.csv / results.json
"""
