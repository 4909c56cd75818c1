"""The demo: dnabench in miniature on a synthetic world with known signals.

`make_world` writes a genome and every raw file in its real format with the ground truth it
used (`demo.world`); `build_stores` runs the real `prepare` builders on them (`demo.stores`);
`best_achievable` scores the generating rule on each store's test split (`demo.oracle`).
`run_demo` is the quick tour of genome cache, windows, labels and tokenizers (`demo.tour`).
"""

from dnabench.demo.tour import WINDOW, DemoResult, run_demo

__all__ = ["WINDOW", "DemoResult", "run_demo", "make_world", "build_stores", "best_achievable", "World"]


def __getattr__(name: str):
    """The world, stores and oracle load on first use, so `dnabench demo` starts fast."""
    if name in ("make_world", "World"):
        from dnabench.demo import world

        return getattr(world, name)
    if name == "build_stores":
        from dnabench.demo.stores import build_stores

        return build_stores
    if name == "best_achievable":
        from dnabench.demo.oracle import best_achievable

        return best_achievable
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
