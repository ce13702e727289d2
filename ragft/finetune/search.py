"""Hyperparameter search for `ragft finetune --search`: Optuna TPE over a small space, median pruning on the
validation loss, resumable, and only the best trial's adapter kept.

How a search runs:
1. The dataset is built once, exactly as a plain `ragft finetune` builds it (pipeline._prepare), into the run
   state folder `adapters/.runs/<name>/`; every trial trains on the same train/validation split.
2. The study lives in an Optuna RDB storage on a SQLite file beside the store (`<workspace>/search.sqlite`,
   study name = the adapter name). A killed search resumes with `--resume`: finished trials (complete or
   pruned) are read back and never repeated; a trial that was running when the process died is marked failed
   and its parameters are tried again first.
3. The first trials are a Latin hypercube over the space (each numeric range cut into strata, choices taken in
   the order given), so even a 4-trial CPU budget sees both ends of every range; then TPE (Bergstra et al.
   2011) proposes. TPE's own random start-up would, at these budgets, be all there is.
4. Each trial evaluates the validation loss every `eval_steps` optimiser steps (about twice per epoch) and
   reports it; Optuna's MedianPruner stops a trial whose loss at a step is worse than the median of earlier
   trials at that same step (after one finished trial). The objective is the validation loss of the adapter
   the trial ends with (a final evaluation is forced at the last step), or with `objective="f1"` the mean token
   F1 of that adapter's answers to the held-out `qa` questions (ragft/finetune/objective.py: strategy ft, hybrid
   for --raft, scored as `compare` scores, with its interval); the study then maximises. Pruning stays on the
   validation loss either way (reported negated to a maximising study, so "worse than the median" still means
   a higher loss): F1 exists only once a trial has finished. The objective and its --qa file are part of the
   study: `--resume` refuses another one.
5. A trial's adapter is kept (in `adapters/.search/<name>/`) only while it is the best so far; the others are
   deleted when they end. At the end the best adapter is registered under `<name>` with its hyperparameters,
   and `lineage.search` holds the space, the objective and the whole trial table.

Optuna is imported only here, inside functions: `pip install 'ragft[search]'`.
"""

from __future__ import annotations

import math
import random
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragft.errors import ConfigError, NotFoundError
from ragft.finetune.objective import DIRECTION, F1, LOSS, check_objective, describe
from ragft.models.compute import compute_thread

if TYPE_CHECKING:
    from ragft.evaluate.seams import EvalWorkspace
    from ragft.finetune import TrainReport
    from ragft.finetune.pipeline import FinetuneParts, LoadModel

SEARCH_DB = "search.sqlite"
SEARCH_DIR = ".search"  # adapters/.search/<name>/: the best trial's adapter while the search runs
DEFAULT_SPACE = "lr=1e-4:2e-3:log,lora_r=4|8|16,epochs=1:3"
"""CPU default: learning rate over a 20x log range, the three usual small ranks, 1-3 epochs (batch, length and
target modules stay at the `[train]` settings)."""
DEFAULT_TRIALS = 8
OBJECTIVE = LOSS  # the default objective's name (`--objective loss`)

# name in --space -> (override key, type). Only what changes the optimisation, not the data or the layout.
PARAMETERS: dict[str, tuple[str, type]] = {
    "lr": ("learning_rate", float), "learning_rate": ("learning_rate", float), "epochs": ("epochs", float),
    "lora_r": ("lora_r", int), "lora_alpha": ("lora_alpha", int), "lora_dropout": ("lora_dropout", float),
    "batch_size": ("batch_size", int), "grad_accum": ("grad_accum", int),
}
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter: a numeric range `low:high[:log]` or a list of choices `a|b|c`."""

    name: str
    key: str
    kind: type
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[Any, ...] = ()

    def describe(self) -> str:
        if self.choices:
            return "|".join(_fmt(c) for c in self.choices)
        return f"{_fmt(self.low)}:{_fmt(self.high)}" + (":log" if self.log else "")


def parse_space(text: str) -> list[Dimension]:
    """`lr=1e-4:1e-3:log,lora_r=4|8|16,epochs=1:3` -> dimensions. One ConfigError naming the parameter."""
    dims: list[Dimension] = []
    allowed = ", ".join(sorted(PARAMETERS))
    for part in [p.strip() for p in (text or "").split(",") if p.strip()]:
        name, eq, spec = (s.strip() for s in part.partition("="))
        if name not in PARAMETERS:
            raise ConfigError(f"--space: unknown parameter {name!r}; searchable: {allowed}")
        key, kind = PARAMETERS[name]
        if not eq or not spec:
            raise ConfigError(f"--space {name}: give a range low:high[:log] or choices a|b|c, e.g. {name}=1:3")
        if any(d.key == key for d in dims):
            raise ConfigError(f"--space {name}: given twice")
        dims.append(_dimension(name, key, kind, spec))
    if not dims:
        raise ConfigError(f"--space is empty; e.g. --space {DEFAULT_SPACE}")
    return dims


def _dimension(name: str, key: str, kind: type, spec: str) -> Dimension:
    def number(s: str) -> float:
        if not re.fullmatch(_NUM, s.strip()):
            raise ConfigError(f"--space {name}: {s.strip()!r} is not a number (in {name}={spec})")
        v = float(s)
        if kind is int and v != int(v):
            raise ConfigError(f"--space {name}: {s.strip()!r} is not a whole number (in {name}={spec})")
        if v <= 0 and key != "lora_dropout" or (key == "lora_dropout" and not 0 <= v < 1):
            limit = "between 0 and 1 (excluded)" if key == "lora_dropout" else "above 0"
            raise ConfigError(f"--space {name}: {s.strip()} must be {limit} (in {name}={spec})")
        return int(v) if kind is int else v

    if key == "epochs" and all(re.fullmatch(r"\s*\d+\s*", b) for b in re.split(r"[|:]", spec.replace(":log", ""))):
        kind = int  # `epochs=1:3` means 1, 2 or 3 passes; `epochs=0.5:2` searches fractions
    if "|" in spec:
        choices = tuple(number(s) for s in spec.split("|"))
        if len(set(choices)) != len(choices):
            raise ConfigError(f"--space {name}: repeated choice in {name}={spec}")
        return Dimension(name, key, kind, choices=choices)
    bits = spec.split(":")
    log = len(bits) == 3 and bits[2].strip() == "log"
    if len(bits) not in (2, 3) or (len(bits) == 3 and not log):
        raise ConfigError(f"--space {name}: {spec!r} is neither low:high[:log] nor a|b|c")
    low, high = number(bits[0]), number(bits[1])
    if not low < high:
        raise ConfigError(f"--space {name}: low {_fmt(low)} must be below high {_fmt(high)}")
    return Dimension(name, key, kind, low=low, high=high, log=log)


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


@dataclass
class TrialRecord:
    """One row of the trial table (JSON `trials`, and `lineage.search.trials` of the registered adapter)."""

    number: int
    params: dict[str, Any]
    state: str  # complete | pruned | failed
    objective: float | None  # the value of `metric`; None for a pruned trial of an f1 search (never answered)
    steps: int
    seconds: float
    val_loss: list[float] = field(default_factory=list)
    metric: str = LOSS  # the objective's name: val_loss | f1
    ci: list[float] | None = None  # f1: 95% paired bootstrap interval over the held-out questions, as compare


@dataclass
class SearchReport:
    """Result of `Workspace.finetune_search`; `to_dict()` is the JSON of `ragft finetune --search`."""

    best: dict[str, Any]
    trials: list[TrialRecord]
    objective: str
    space: str
    seconds: float
    resumed_trials: int
    report: "TrainReport"

    def to_dict(self) -> dict[str, Any]:
        return {"best": self.best, "trials": [asdict(t) for t in self.trials], "objective": self.objective,
                "space": self.space, "seconds": self.seconds, "resumed_trials": self.resumed_trials,
                "adapter": self.report.to_dict()}


TrialProgress = Callable[[TrialRecord, int, int, "float | None"], None]  # (record, done, trials, eta_seconds)


def _optuna():  # type: ignore[no-untyped-def]
    try:
        import optuna
    except ImportError:
        raise ConfigError("the search needs Optuna: pip install 'ragft[search]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def storage_url(workspace_path: Path) -> str:
    return f"sqlite:///{(Path(workspace_path) / SEARCH_DB).resolve()}"


def latin_hypercube(dims: list[Dimension], n: int, seed: int) -> list[dict[str, Any]]:
    """`n` start points: each numeric range cut into `n` strata (log-spaced for `:log`), one point per stratum
    centre, strata shuffled per dimension; choices cycled in the order given (so `lr=1e-2|1e-6` tries 1e-2
    first)."""
    rng = random.Random(seed)
    points: list[dict[str, Any]] = [{} for _ in range(n)]
    for d in dims:
        if d.choices:
            for i in range(n):
                points[i][d.name] = d.choices[i % len(d.choices)]
            continue
        order = list(range(n))
        rng.shuffle(order)
        lo, hi = (math.log(d.low), math.log(d.high)) if d.log else (d.low, d.high)
        for i, stratum in enumerate(order):
            x = lo + (hi - lo) * (stratum + 0.5) / n
            v = math.exp(x) if d.log else x
            points[i][d.name] = int(round(v)) if d.kind is int else float(f"{v:.4g}")
    return points


def _suggest(trial: Any, d: Dimension) -> Any:
    if d.choices:
        return trial.suggest_categorical(d.name, list(d.choices))
    if d.kind is int:
        return trial.suggest_int(d.name, int(d.low), int(d.high), log=d.log)
    return trial.suggest_float(d.name, d.low, d.high, log=d.log)


def _pruning_callback(trial: Any, pruned: dict[str, Any], sign: float = 1.0):  # type: ignore[no-untyped-def]
    """A TrainerCallback that reports each validation loss to the trial (times `sign`: -1 for a maximising f1
    study, whose pruner keeps high values), stops training when the pruner says so, and forces an evaluation at
    the last step (the objective is the loss of the adapter the trial ends with, and the last step is not always
    an evaluation step)."""
    from transformers import TrainerCallback

    class Pruning(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):  # type: ignore[no-untyped-def]
            if state.global_step >= state.max_steps:
                control.should_evaluate = True

        def on_evaluate(self, args, state, control, metrics=None, **kw):  # type: ignore[no-untyped-def]
            loss = (metrics or {}).get("eval_loss")
            if loss is None:
                return
            trial.report(sign * float(loss), state.global_step)
            pruned["last"] = float(loss)
            if state.global_step < state.max_steps and trial.should_prune():
                pruned["at"] = state.global_step
                control.should_training_stop = True

    return Pruning()


def run_search(
    parts: "FinetuneParts",
    name: str,
    data: str | None = None,
    from_docs: bool = False,
    raft: bool = False,
    trials: int | None = None,
    space: str | None = None,
    resume: bool = False,
    exclude_qa: str | None = None,
    overrides: dict[str, Any] | None = None,
    trial_progress: TrialProgress | None = None,
    load_model: "LoadModel | None" = None,
    objective: str | None = None,
    qa: str | None = None,
    evaluator: "EvalWorkspace | None" = None,
) -> SearchReport:
    """Search hyperparameters for adapter `name` (module docstring) and register the best trial's adapter.

    `trials` defaults to DEFAULT_TRIALS. `resume=True` continues the stored study of `name` with its recorded
    space and trial count (a `space` given again must match; `trials` given again replaces the count).
    `overrides` fix the non-searched `[train]` settings, as in `ragft finetune`. `objective` "loss" (default)
    or "f1"; f1 scores each finished trial on the held-out `qa` file by answering through `evaluator` (the
    workspace; `Workspace.finetune_search` passes itself), and leaves those questions out of training.
    """
    from ragft.finetune.pipeline import RUNS_DIR, _check_name, _load_run, _Plan, _prepare
    from ragft.finetune.registry import validate_name

    if space:
        parse_space(space)  # bad input fails before anything is written
    metric = check_objective(objective, qa, resume=resume)
    heldout: list[Any] = []
    if metric == F1 and not resume:
        qa = str(Path(qa).resolve())  # type: ignore[arg-type]
        if exclude_qa is not None and Path(exclude_qa).resolve() != Path(qa):
            raise ConfigError("with --objective f1 the --qa questions are left out of training; --exclude-qa "
                              "must be that same file or dropped (merge the two files into one)")
        exclude_qa = qa
        heldout = _heldout(evaluator, qa)
    optuna = _optuna()
    validate_name(name)
    trials_given = trials
    trials = DEFAULT_TRIALS if trials is None else trials
    if trials < 1:
        raise ConfigError(f"--trials {trials}: give at least 1")
    registry = parts.registry
    run_dir = registry.root / RUNS_DIR / name
    search_dir = registry.root / SEARCH_DIR / name
    workspace = registry.root.parent
    storage = optuna.storages.RDBStorage(storage_url(workspace))
    t0 = time.perf_counter()
    notes: list[str] = []
    if resume:
        try:
            study = optuna.load_study(study_name=name, storage=storage, pruner=_pruner(optuna))
        except KeyError:
            raise NotFoundError(f"no interrupted search named {name!r} to resume (looked in {workspace / SEARCH_DB}); "
                                "start it without --resume") from None
        recorded = study.user_attrs["space"]
        if space and parse_space(space) != parse_space(recorded):
            raise ConfigError(f"--space differs from the interrupted search's ({recorded}); resume without --space")
        space = recorded
        metric, qa = _resumed_objective(study, metric, qa)
        heldout = _heldout(evaluator, qa) if metric == F1 else []
        trials = trials_given if trials_given is not None else int(study.user_attrs["trials"])
        if not (run_dir / "run.json").is_file():
            raise NotFoundError(f"the run state of search {name!r} is gone ({run_dir}); start the search again")
        run = _load_run(run_dir)
        # A trial cut short (SIGKILL leaves it RUNNING, Ctrl-C makes Optuna mark it FAIL) is run again first,
        # with the same parameters; each at most once, so a trial that fails by itself does not loop.
        retried = set(study.user_attrs.get("retried", []))
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)):
            if t.number not in retried and t.params:
                study.enqueue_trial(t.params, skip_if_exists=False)
                retried.add(t.number)
        study.set_user_attr("retried", sorted(retried))
        _drop_scoring_records(registry, search_dir)
    else:
        space = space or DEFAULT_SPACE
        dims = parse_space(space)
        metric = metric or LOSS
        _check_name(registry, name, run_dir, resume=False, retrain=False)
        if name in {s.study_name for s in optuna.get_all_study_summaries(storage)}:
            optuna.delete_study(study_name=name, storage=storage)  # an abandoned search: start over
        shutil.rmtree(search_dir, ignore_errors=True)
        plan = _Plan(data=data, from_docs=from_docs, raft=raft, epochs=None, exclude_qa=exclude_qa,
                     overrides={k: v for k, v in (overrides or {}).items() if v is not None})
        if parts.generator_settings.kind != "bundled":
            raise ConfigError("fine-tuning needs a local generator (generator.kind = \"bundled\"); a remote API "
                              "model cannot be trained here")
        run = _prepare(parts, plan, run_dir, notes, retrain=False)
        if not run.val:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise ConfigError("the search needs validation rows to score trials: give at least 4 training rows "
                              "and a [train] val_fraction above 0")
        seed = run.args.seed
        study = optuna.create_study(study_name=name, storage=storage, direction=DIRECTION[metric],
                                    pruner=_pruner(optuna))
        study.set_user_attr("space", space)
        study.set_user_attr("objective", metric)
        study.set_user_attr("qa", qa if metric == F1 else None)
        study.set_user_attr("trials", trials)
        for point in latin_hypercube(dims, _startup(trials), seed):
            study.enqueue_trial(point)
    dims = parse_space(space)
    sign = -1.0 if metric == F1 else 1.0
    # The sampler is not stored with the study: the same seeded TPE on a fresh and on a resumed study. Its
    # start-up trials are the enqueued Latin hypercube points; TPE proper proposes from the next one on.
    study.sampler = optuna.samplers.TPESampler(seed=run.args.seed, n_startup_trials=_startup(trials))
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done_before = len(study.get_trials(deepcopy=False, states=finished))
    to_run = max(0, trials - done_before)
    durations: list[float] = []

    if load_model is None:
        from ragft.models.weights import load_causal_lm as load_model  # type: ignore[assignment]

    stop = threading.Event()  # set when the caller is interrupted: the trial's training ends at its next step

    def run_trial(trial: Any) -> float:
        from ragft.finetune.train import train_lora, steps_per_run

        params = {d.name: _suggest(trial, d) for d in dims}
        args, lora = _trial_args(run, dims, params)
        per_epoch = steps_per_run(len(run.train), replace(args, epochs=1))
        args = replace(args, eval_steps=max(1, per_epoch // 2), save_steps=10**9)  # no mid-trial checkpoints
        model, tokenizer = load_model(run.base_model)
        pruned: dict[str, Any] = {}
        trial_dir = search_dir / f"trial-{trial.number}"
        started = time.perf_counter()
        result = train_lora(model, tokenizer, run.train, run.val, run_dir / f"trial-{trial.number}", trial_dir,
                            args, lora, callbacks=[_pruning_callback(trial, pruned, sign)], stop=stop)
        shutil.rmtree(run_dir / f"trial-{trial.number}", ignore_errors=True)
        value = pruned.get("last", result.val_loss[-1] if result.val_loss else math.inf)
        trial.set_user_attr("result", {"steps": result.steps, "train_loss": result.train_loss,
                                       "val_loss": result.val_loss, "tokens_per_s": result.tokens_per_s,
                                       "seconds": result.seconds, "tokens": result.tokens,
                                       "dropped_too_long": result.dropped_too_long})
        if "at" in pruned:
            trial.set_user_attr("seconds", round(time.perf_counter() - started, 2))
            shutil.rmtree(trial_dir, ignore_errors=True)
            raise optuna.TrialPruned()
        if metric == F1:  # the finished adapter answers the held-out questions (time included in the trial's)
            score = _score_trial(evaluator, registry, run, name, trial.number, trial_dir, heldout)
            value = score.f1
            trial.set_user_attr("ci", score.ci)
            trial.set_user_attr("heldout", {"questions": score.questions, "failed": score.failed})
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 2))
        best = _best(study, optuna)
        if best is None or (value > best.value if metric == F1 else value < best.value):
            for other in search_dir.glob("trial-*"):  # the previous best, now beaten
                if other != trial_dir:
                    shutil.rmtree(other, ignore_errors=True)
        else:
            shutil.rmtree(trial_dir, ignore_errors=True)
        return value

    def after_trial(study: Any, frozen: Any) -> None:
        if frozen.state not in finished:
            return
        record = _record(frozen, metric)
        durations.append(record.seconds)
        left = to_run - len(durations)
        eta = (sum(durations) / len(durations)) * left if durations else None
        if trial_progress is not None:
            trial_progress(record, done_before + len(durations), trials, eta)

    if to_run:
        # trials load, train and score (answers, with --objective f1) on the compute thread: one OpenMP team for
        # the process (models/compute.py); an interrupted caller stops the trial at its next step
        compute_thread().run(study.optimize, run_trial, n_trials=to_run, callbacks=[after_trial], catch=(),
                             cancel=stop)
    best = _best(study, optuna)
    if best is None:
        raise ConfigError(f"search {name!r}: no trial finished unpruned; widen --space or raise --trials")
    table = [_record(t, metric) for t in study.get_trials(deepcopy=False) if t.state != optuna.trial.TrialState.RUNNING]
    report = _register_best(parts, name, run, run_dir, search_dir, best, dims, space, table, notes,
                            seconds=round(time.perf_counter() - t0, 2), metric=metric, qa=qa)
    optuna.delete_study(study_name=name, storage=storage)  # the trial table now lives in the adapter's lineage
    shutil.rmtree(search_dir, ignore_errors=True)
    return SearchReport(best={"params": dict(best.params), "objective": round(best.value, 5), "adapter": name,
                              "trial": best.number, "metric": metric, "ci": best.user_attrs.get("ci")},
                        trials=table, objective=metric, space=space, seconds=report.seconds,
                        resumed_trials=done_before, report=report)


def _startup(trials: int) -> int:
    """Latin hypercube start points: half the budget, at least 2 (both ends of each range), at most 10."""
    return min(trials, 10, max(2, trials // 2))


def _pruner(optuna: Any) -> Any:
    """Median pruning from the first finished trial on: at CPU budgets of 4-10 trials Optuna's default of 5
    finished trials before any pruning would leave almost nothing to prune."""
    return optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)


def _best(study: Any, optuna: Any) -> Any:
    """The best complete trial in the study's direction; a tie goes to the earlier trial."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return None
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    return min(complete, key=lambda t: (sign * t.value, t.number))


def _resumed_objective(study: Any, metric: str | None, qa: str | None) -> tuple[str, str | None]:
    """The interrupted study's objective and --qa file; a different one given again is refused (the objective
    is part of the study: trials scored on another measure or other questions are not comparable)."""
    recorded = study.user_attrs.get("objective", LOSS)
    recorded_qa = study.user_attrs.get("qa")
    if metric is not None and metric != recorded:
        raise ConfigError(f"--objective {metric} differs from the interrupted search's ({recorded}); resume without "
                          "--objective, or start a new search without --resume")
    if qa is not None and (recorded_qa is None or Path(qa).resolve() != Path(recorded_qa)):
        raise ConfigError(f"--qa {qa} differs from the interrupted search's ({recorded_qa or 'none: objective val_loss'}); "
                          "resume without --qa")
    return recorded, recorded_qa


def _heldout(evaluator: Any, qa: str | None) -> list[Any]:
    """The held-out questions of an f1 search, gold `source`s resolved to document ids as compare does."""
    from ragft.evaluate.qa import resolve_sources
    from ragft.finetune.objective import load_heldout

    if evaluator is None or qa is None:
        raise ConfigError("--objective f1 answers with the workspace: call Workspace.finetune_search")
    return resolve_sources(load_heldout(qa), evaluator.store.list_documents())


def _score_trial(evaluator: Any, registry: Any, run: Any, name: str, number: int, trial_dir: Path,
                 heldout: list[Any]) -> Any:
    """Score a finished trial's adapter on the held-out questions. `Workspace.ask_many` answers with registered
    adapters only, so the trial's folder is registered under a scoring name for the time of the answers."""
    from ragft.finetune.objective import score_adapter, strategy_for
    from ragft.finetune.registry import AdapterInfo

    scoring = f"{name[:40]}.search-trial-{number}"
    if registry.exists(scoring) and Path(registry.get(scoring).path).resolve().parent != trial_dir.resolve().parent:
        raise ConfigError(f"adapter {scoring!r} exists and is not a search trial; rename it to run this search")
    registry.register(AdapterInfo(name=scoring, path=str(trial_dir.resolve()), kind=run.kind,
                                  base_model=run.base_model, lineage={"documents": [], "dataset_sha256": "",
                                                                      "search_trial_of": name}))
    try:
        return score_adapter(evaluator, heldout, strategy_for(run.kind), scoring, seed=run.args.seed)
    finally:
        registry.remove(scoring)


def _drop_scoring_records(registry: Any, search_dir: Path) -> None:
    """Registry records of trials being scored when a search was killed (their folders are under search_dir)."""
    for info in registry.list():
        if Path(info.path).resolve().parent == search_dir.resolve():
            registry.remove(info.name)


def _trial_args(run: Any, dims: list[Dimension], params: dict[str, Any]):  # type: ignore[no-untyped-def]
    """The run's TrainArgs/LoraArgs with this trial's values; LoRA alpha keeps its ratio to r unless searched."""
    from ragft.config import LORA_OVERRIDE_KEYS

    values = {d.key: d.kind(params[d.name]) for d in dims}
    train = {k: v for k, v in values.items() if k not in LORA_OVERRIDE_KEYS}
    lora = {LORA_OVERRIDE_KEYS[k]: v for k, v in values.items() if k in LORA_OVERRIDE_KEYS}
    if "r" in lora and "alpha" not in lora:
        lora["alpha"] = max(1, round(run.lora.alpha * lora["r"] / run.lora.r))
    return replace(run.args, **train), replace(run.lora, **lora)


def _record(t: Any, metric: str = LOSS) -> TrialRecord:
    """A trial as a table row. A pruned trial's loss objective is its last reported loss; an f1 trial that
    was pruned was never answered, so its objective is None (its losses are in `val_loss`)."""
    result = t.user_attrs.get("result", {})
    state = {"COMPLETE": "complete", "PRUNED": "pruned"}.get(t.state.name, "failed")
    value = t.value  # Optuna gives a pruned trial its last reported value: a loss, negated in an f1 study
    if metric != LOSS and state != "complete":
        value = None
    elif value is None and t.intermediate_values:
        value = t.intermediate_values[max(t.intermediate_values)]
    return TrialRecord(number=t.number, params=dict(t.params), state=state,
                       objective=round(value, 5) if value is not None else None, steps=int(result.get("steps", 0)),
                       seconds=float(t.user_attrs.get("seconds", 0.0)), val_loss=list(result.get("val_loss", [])),
                       metric=metric, ci=t.user_attrs.get("ci"))


def _register_best(parts: "FinetuneParts", name: str, run: Any, run_dir: Path, search_dir: Path, best: Any,
                   dims: list[Dimension], space: str, table: list[TrialRecord], notes: list[str], *,
                   seconds: float, metric: str = LOSS, qa: str | None = None) -> "TrainReport":
    """Move the best trial's adapter to `adapters/<name>/` and register it like a plain run, with the search
    (space, objective, trial table) in its lineage."""
    from ragft.finetune.pipeline import _load_notes, _register
    from ragft.finetune.train import TrainResult

    registry = parts.registry
    src = search_dir / f"trial-{best.number}"
    if not src.is_dir():
        raise NotFoundError(f"the adapter of the best trial ({best.number}) is missing from {src}; start the search again")
    target = registry.adapter_dir(name)
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), str(target))
    args, lora = _trial_args(run, dims, dict(best.params))
    result = TrainResult(**{k: v for k, v in best.user_attrs["result"].items() if k in TrainResult.__dataclass_fields__})
    notes = notes or _load_notes(run_dir)
    notes.append(f"search: best of {len(table)} trial(s) is trial {best.number} "
                 + " ".join(f"{k}={_fmt(v)}" for k, v in best.params.items()) + ", "
                 + describe(metric, best.value, best.user_attrs.get("ci")))
    report = _register(registry, name, replace(run, args=args, lora=lora), result, run_dir, notes, seconds=seconds)
    info = registry.get(name)
    info.lineage["search"] = {"objective": metric, "objective_value": round(best.value, 5),
                              "objective_ci": best.user_attrs.get("ci"), "qa": qa, "space": space,
                              "best_trial": best.number, "trials": [asdict(t) for t in table]}
    registry.register(info)
    report.lineage = info.lineage
    return report


def format_trial(record: TrialRecord, done: int, total: int, eta: float | None) -> str:
    """One progress line per trial: parameters, objective, pruned or not, time, and the study's ETA."""
    params = " ".join(f"{k}={_fmt(v)}" for k, v in record.params.items())
    value = describe(record.metric, record.objective, record.ci)
    if record.metric != LOSS and record.val_loss:
        value += f"  val_loss {record.val_loss[-1]:.4f}"
    state = f"pruned at step {record.steps}" if record.state == "pruned" else f"{record.steps} steps"
    eta_text = f", ETA {_duration(eta)}" if eta else ""
    return f"trial {done}/{total} (#{record.number}): {params}  {value}  {state}  {record.seconds:.0f} s{eta_text}"


def _duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


__all__ = ["DEFAULT_SPACE", "DEFAULT_TRIALS", "Dimension", "SearchReport", "TrialRecord", "format_trial",
           "latin_hypercube", "parse_space", "run_search"]
