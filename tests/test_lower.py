"""Target-neutral lowering (flowc/emit/lower.py): the linear S-ACT-3 retention check
agrees with a search from every step on random step graphs."""

from __future__ import annotations

import random

import pytest

from flowc import ir
from flowc.checks import edges
from flowc.emit import lower
from flowc.pipeline import check_text


def brute_force(flow: ir.Flow) -> bool:
    """The old definition: some `record` A comes before some `record` B (the flow's own
    first, earlier in the same step, or B's step reachable from A's) with more days."""
    succ = {s.name: {t for _, t in edges(s)} for s in flow.steps}

    def reach(start):
        seen, todo = set(), list(succ[start])
        while todo:
            n = todo.pop()
            if n not in seen and n in succ:
                seen.add(n)
                todo.extend(succ[n])
        return seen

    recs = {s.name: [a.retain_days for a in s.actions if isinstance(a, ir.Record)] for s in flow.steps}
    first = flow.record.retain_days if flow.record else None
    for s in flow.steps:
        later = reach(s.name)
        for i, d in enumerate(recs[s.name]):
            if first is not None and d > first:
                return True
            if any(e > d for e in recs[s.name][i + 1:]):
                return True
            if any(e > d for n in later for e in recs[n]):
                return True
    return False


def random_flow(rng: random.Random) -> str:
    n = rng.randint(1, 7)
    lines = ["flow f { number 400-600-1234" + (f" record retain {rng.choice([7, 30, 90])}d" if rng.random() < .3 else "")]
    for i in range(n):
        acts = " ".join(f"record retain {rng.choice([7, 30, 90])}d play \"p\"" for _ in range(rng.choice([0, 0, 1, 2])))
        targets = [f"s{rng.randrange(n)}" for _ in range(2)]
        end = rng.random()
        if end < 0.3:
            term = "hangup"
        elif end < 0.6:
            term = f"goto {targets[0]}"
        else:
            term = f'menu {{ prompt "m" 1 -> {targets[0]} 2 -> {targets[1]} exhausted -> hangup }}'
        lines.append(f"  step s{i} {{ {acts} {term} }}")
    lines.append("}")
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(300))
def test_retention_conflict_matches_the_search_from_every_step(seed):
    rng = random.Random(seed)
    result = check_text(random_flow(rng))
    if result.flow is None:
        pytest.skip("not a valid flow (an inescapable loop)")
    found = lower.retention_conflict(result.flow)
    assert (found is not None) == brute_force(result.flow)
    if found is not None:
        rec, fewer = found
        assert rec.retain_days > fewer
