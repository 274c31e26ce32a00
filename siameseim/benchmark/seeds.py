"""Tasks that run several seeds: which seeds, where each one works, and how their metrics combine."""
import os
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from .task import SuiteContext


def task_seeds(ctx: SuiteContext, task: str) -> List[Optional[int]]:
    """The seeds ``task`` runs with (``ctx.extra['seeds'][task]``); ``[None]``: once, with the config's seed."""
    return list(ctx.extra.get('seeds', {}).get(task) or [None])


def seed_dir(work_dir: str, seeds: Sequence[Optional[int]], seed: Optional[int]) -> str:
    """The work dir of one seed: the task's own with a single seed, ``seed<k>/`` below it otherwise."""
    path = work_dir if len(seeds) == 1 else osp.join(work_dir, f'seed{seed}')
    os.makedirs(path, exist_ok=True)
    return path


def aggregate(per_seed: Sequence[Mapping[str, object]]) -> Tuple[Dict[str, object], Dict[str, List[float]]]:
    """Mean of every number all seeds produced, and (with several seeds) each one's per-seed values; notes
    (str) and None metrics are those of the first seed."""
    keys = [key for key in per_seed[0]
            if all(isinstance(values.get(key), (int, float)) for values in per_seed)]
    runs = {key: [float(values[key]) for values in per_seed] for key in keys}
    means = {key: value for key, value in per_seed[0].items() if value is None or isinstance(value, str)}
    means.update({key: sum(values) / len(values) for key, values in runs.items()})
    return means, (runs if len(per_seed) > 1 else {})
