"""The shared training loop: budgets, validation at the end, best-only export, rate decay on stalls."""

import itertools

import torch

from training import loop


def optimiser(lr=1e-3):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_keep_best_exports_only_improvements_and_halves_the_rate_after_stalls():
    opt, exported = optimiser(), []
    state = {"best": 0.5}
    scores = [0.6, 0.55, 0.58, 0.7, 0.1, 0.2]
    results = [
        loop.keep_best(state, s, higher_is_better=True, export=lambda s=s: exported.append(s), opt=opt, patience=2)
        for s in scores
    ]
    assert results == [True, False, False, True, False, False]
    assert exported == [0.6, 0.7] and state["best"] == 0.7
    assert opt.param_groups[0]["lr"] == 1e-3 / 4  # four stalls, patience 2: halved twice


def test_keep_best_lower_is_better_and_no_decay_when_told():
    opt = optimiser()
    state = {"best": 1.0}
    assert loop.keep_best(state, 0.9, higher_is_better=False, export=lambda: None, opt=opt, patience=1)
    assert not loop.keep_best(state, 0.95, higher_is_better=False, export=lambda: None, opt=opt, patience=1, may_decay=False)
    assert opt.param_groups[0]["lr"] == 1e-3 and state["best"] == 0.9


def test_fit_validates_exports_and_checkpoints_at_the_end_of_a_spent_budget(tmp_path):
    import argparse

    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    state = {"step": 0, "best": 0.0, "seconds": 0}
    steps, exported = [], []
    validation = loop.Validation(
        evaluate=lambda: {"acc": 0.5},
        score="acc",
        higher_is_better=True,
        export=exported.append,
        describe=lambda m: f"acc {m['acc']}",
        patience=2,
    )
    args = argparse.Namespace(minutes=0, val_minutes=60)
    loop.fit(
        itertools.count(), steps.append, lambda s: "", validation, args=args, model=model, opt=opt, state=state, run=tmp_path
    )
    assert steps == [0]
    assert exported == [{"acc": 0.5}] and state["best"] == 0.5
    saved = torch.load(tmp_path / "last.pt", weights_only=False)
    assert saved["best"] == 0.5 and set(saved["model"]) == {"weight", "bias"}


def _validation(version, higher_is_better=False):
    return loop.Validation(
        evaluate=dict,
        score="cer",
        higher_is_better=higher_is_better,
        export=lambda m: None,
        describe=str,
        patience=3,
        version=version,
    )


def test_a_new_validation_set_forgets_the_old_best():
    state = {"best": 0.05, "bad_evals": 2, "val_version": "lines-v1"}
    loop.start_validation(_validation("lines-v2"), state)
    assert state == {"best": float("inf"), "bad_evals": 0, "val_version": "lines-v2"}
    state["best"] = 0.07
    loop.start_validation(_validation("lines-v2"), state)  # the same set: the best stands
    assert state["best"] == 0.07


def test_an_untracked_validation_set_keeps_the_best():
    state = {"best": 0.8}
    loop.start_validation(_validation(None, higher_is_better=True), state)
    assert state == {"best": 0.8}


def test_trained_starting_weights_are_scored_on_this_runs_validation_set_once():
    model = torch.nn.Linear(1, 1)
    calls = []

    def evaluate():
        calls.append(1)
        return {"cer": 0.07}

    v = loop.Validation(evaluate=evaluate, score="cer", higher_is_better=False, export=lambda m: None, describe=str, patience=3)
    state = {"step": 100, "best": 0.05}  # the card's figure, measured on another machine's lines
    loop.measure_the_start(v, model, state)
    assert state["best"] == 0.07 and state["best_measured"] and calls == [1]
    loop.measure_the_start(v, model, state)  # resumed from a checkpoint that measured it: not again
    assert calls == [1]
    fresh = {"step": 0, "best": float("inf")}  # nothing trained to measure
    loop.measure_the_start(v, model, fresh)
    assert calls == [1] and fresh["best"] == float("inf")


def test_each_checkpoint_keeps_a_snapshot_of_the_weights_and_only_the_last_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "SNAPSHOTS", 3)
    model, opt = torch.nn.Linear(1, 1), optimiser()
    for step in range(1, 6):
        loop.checkpoint(tmp_path, model, opt, {"step": step * 100, "best": 0.1})
    kept = sorted(p.name for p in (tmp_path / "snapshots").iterdir())
    assert kept == ["step-00000300.pt", "step-00000400.pt", "step-00000500.pt"]
    assert set(torch.load(tmp_path / "snapshots" / kept[-1], weights_only=False)["model"]) == {"weight", "bias"}


def test_averaged_weights_are_the_mean_and_counters_the_last():
    from training.average import average_state_dicts, blend

    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(5)}
    b = {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(9)}
    avg = average_state_dicts([a, b])
    assert torch.equal(avg["w"], torch.tensor([2.0, 4.0])) and int(avg["n"]) == 9
    shipped = {"w": torch.tensor([0.0, 0.0]), "n": torch.tensor(1)}
    assert torch.equal(blend(shipped, avg, 0.25)["w"], torch.tensor([1.5, 3.0])) and int(blend(shipped, avg, 0.25)["n"]) == 9
