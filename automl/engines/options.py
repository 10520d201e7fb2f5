"""The options of each sampler and pruner (``study.sampler: {name: tpe, n_startup_trials: 5}``), as pydantic
models: their defaults live here, and both the pipeline's validation and the engine read them.

A default of ``None`` is settled from the study when it opens (``train.epochs``, ``study.trials``), as the
field's description says. No tuning library is imported here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from automl._types import Int

Count = Annotated[Int, Field(ge=0, le=1_000_000)]
Positive = Annotated[Int, Field(gt=0, le=1_000_000)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class Options(BaseModel):
    """A sampler's or pruner's options; none by default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# -- samplers -------------------------------------------------------------------------------------------
class TPEOptions(Options):
    """Tree-structured Parzen estimator (Optuna's default)."""

    n_startup_trials: Count | None = Field(
        None, description="Random trials before TPE models the results; default min(10, max(3, train.epochs)).")
    multivariate: bool = Field(True, description="Model the parameters jointly (catches interactions such as "
                               "learning rate x batch size); false: one at a time.")
    group: bool | None = Field(None, description="Model each set of parameters that are active together on its "
                               "own (what conditional spaces need); needs `multivariate`; default: `multivariate`.")

    @model_validator(mode="after")
    def _group_needs_multivariate(self) -> TPEOptions:
        if self.group and not self.multivariate:
            raise ValueError("[group] `group: true` needs `multivariate: true`, got multivariate=false")
        return self


class QMCOptions(Options):
    """Quasi-Monte Carlo: a low-discrepancy sequence that covers the space more evenly than random draws."""

    qmc_type: Literal["sobol", "halton"] = Field("sobol", description="The sequence: sobol | halton.")
    scramble: bool = Field(True, description="Scramble the sequence with the seed (false: every seed gives the "
                           "same points, starting at the space's lower corner).")


class CmaEsOptions(Options):
    """CMA-ES on the numeric parameters; categorical and conditional ones are drawn at random."""

    n_startup_trials: Count = Field(1, description="Random trials before CMA-ES starts.")
    popsize: Annotated[Int, Field(ge=2, le=100_000)] | None = Field(
        None, description="Trials per CMA-ES generation; default 4 + 3 ln(number of parameters).")
    with_margin: bool = Field(False, description="CMA-ES with margin: keeps integer and stepped parameters from "
                              "collapsing onto one value.")
    use_separable_cma: bool = Field(False, description="Separable (diagonal) CMA-ES: faster to adapt in many "
                                    "dimensions, blind to correlations.")
    lr_adapt: bool = Field(False, description="Adapt the learning rate (for noisy or multimodal objectives).")
    consider_pruned_trials: bool = Field(False, description="Learn from pruned trials' last values too.")

    @model_validator(mode="after")
    def _exclusive(self) -> CmaEsOptions:
        chosen = [k for k in ("with_margin", "use_separable_cma", "lr_adapt") if getattr(self, k)]
        if len(chosen) > 1:
            raise ValueError(f"[{chosen[1]}] at most one of with_margin, use_separable_cma, lr_adapt may be true, "
                             f"got {' and '.join(chosen)}")
        return self


class GPOptions(Options):
    """Gaussian-process Bayesian optimization (needs torch: ``pip install 'automl[gp]'``)."""

    n_startup_trials: Count = Field(10, description="Random trials before the Gaussian process models them.")
    deterministic_objective: bool = Field(False, description="The objective has no noise (a fixed seed and "
                                          "deterministic kernels).")


CROSSOVERS = {"uniform": 2, "blxalpha": 2, "sbx": 2, "vsbx": 2, "undx": 3, "spx": 3}  # name -> parents it needs


class NSGA2Options(Options):
    """NSGA-II, a genetic algorithm (multi-objective first; runs single-objective too)."""

    population_size: Annotated[Int, Field(ge=2, le=100_000)] | None = Field(
        None, description="Trials per generation; default `study.trials // 5` between 4 and 20 (about five "
        "generations; Optuna's 50 would be random search at 50 trials).")
    crossover: Literal["uniform", "blxalpha", "sbx", "vsbx", "undx", "spx"] = Field(
        "uniform", description="How two (undx, spx: three) parents mix their numeric parameters; categorical "
        "ones always mix uniformly.")
    crossover_prob: Probability = Field(0.9, description="Chance that a child is a crossover of parents.")
    swapping_prob: Probability = Field(0.5, description="uniform crossover: chance of taking each parameter "
                                       "from the other parent.")
    mutation_prob: Probability | None = Field(None, description="Chance that a parameter is drawn afresh; "
                                              "default 1 / number of parameters.")

    @model_validator(mode="after")
    def _enough_parents(self) -> NSGA2Options:
        need = CROSSOVERS[self.crossover]
        if self.population_size is not None and self.population_size < need:
            raise ValueError(f"[population_size] crossover {self.crossover} needs `population_size >= {need}`, "
                             f"got {self.population_size}")
        return self


class NSGA3Options(NSGA2Options):
    """NSGA-III: NSGA-II with reference points (for three or more objectives)."""

    dividing_parameter: Positive = Field(3, description="Divisions of each objective axis for the reference "
                                         "points.")


def population_for(trials: int) -> int:
    """NSGA's default population for a session of ``trials``: about five generations, 4 to 20 trials each.

    >>> population_for(20), population_for(50), population_for(500)
    (4, 10, 20)
    """
    return max(4, min(20, trials // 5))


# -- pruners --------------------------------------------------------------------------------------------
class _Warmup(Options):
    warmup_epochs: Count | None = Field(
        None, description="Epochs never pruned at the start of a trial; default max(1, train.epochs // 4).")
    interval_epochs: Positive = Field(1, description="Check every this many epochs.")


class MedianOptions(_Warmup):
    """Stop a trial whose value at an epoch is worse than the median of earlier trials at that epoch."""

    n_startup_trials: Count = Field(5, description="Trials that finish before any is pruned.")
    n_min_trials: Positive = Field(1, description="Trials that reached an epoch before it is compared.")


class PercentileOptions(MedianOptions):
    """Keep a trial only while its value is within the best `percentile` of earlier trials at that epoch."""

    percentile: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        25.0, description="Kept fraction in percent: 25 keeps the top quarter (harsher than the median's 50).")


class SuccessiveHalvingOptions(Options):
    """Asynchronous successive halving: at each rung keep the best 1 / reduction_factor of trials."""

    min_resource: Positive | None = Field(
        None, description="Epochs before the first rung; default: settled by Optuna from the first trial.")
    reduction_factor: Annotated[Int, Field(ge=2, le=1000)] = Field(
        3, description="Rungs at min_resource x reduction_factor^k epochs; 1 / reduction_factor goes on.")
    min_early_stopping_rate: Count = Field(0, description="Skip this many first rungs.")
    bootstrap_count: Count = Field(0, description="Trials that must reach a rung before it prunes.")


class HyperbandOptions(Options):
    """Hyperband: several successive-halving brackets, from aggressive to none."""

    min_resource: Positive = Field(1, description="Epochs of the most aggressive bracket's first rung.")
    max_resource: Positive | None = Field(None, description="Epochs of a full trial; default train.epochs.")
    reduction_factor: Annotated[Int, Field(ge=2, le=1000)] = Field(3, description="As in successive_halving.")
    bootstrap_count: Count = Field(0, description="Trials that must reach a rung before it prunes.")


class PatientOptions(Options):
    """Stop a trial whose last `patience` + 1 epochs are all worse than its best before them (a trial
    compared with itself)."""

    patience: Count = Field(3, description="Epochs below the trial's best tolerated.")
    min_delta: Annotated[float, Field(ge=0.0, allow_inf_nan=False)] = Field(
        0.0, description="A value this close to the best (or closer) does not count as worse.")


class ThresholdOptions(_Warmup):
    """Stop a trial whose value leaves [lower, upper] (or is NaN)."""

    warmup_epochs: Count = Field(0, description="Epochs never pruned at the start of a trial.")
    lower: Finite | None = Field(None, description="Prune below this (e.g. val_accuracy 0.2: still at chance).")
    upper: Finite | None = Field(None, description="Prune above this (e.g. val_loss 10: diverging).")

    @model_validator(mode="after")
    def _a_bound(self) -> ThresholdOptions:
        if self.lower is None and self.upper is None:
            raise ValueError("[lower] the threshold pruner needs `lower`, `upper` or both")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"[lower] `lower <= upper` must hold, got lower={self.lower:g}, upper={self.upper:g}")
        return self


class DominatedOptions(_Warmup):
    """Multi-objective studies only: stop a trial whose objectives at an epoch (the per-epoch `val_` metrics with
    what was measured before training) are dominated by a completed trial's at that epoch."""

    min_trials: Positive = Field(1, description="Completed trials that reached an epoch before it is compared.")


#: engine -> sampler/pruner name -> its options; a name missing here takes no options
SAMPLER_OPTIONS: dict[str, dict[str, type[Options]]] = {
    "optuna": {"tpe": TPEOptions, "qmc": QMCOptions, "cmaes": CmaEsOptions, "gp": GPOptions,
               "nsga2": NSGA2Options, "nsga3": NSGA3Options},
}
PRUNER_OPTIONS: dict[str, dict[str, type[Options]]] = {
    "optuna": {"median": MedianOptions, "percentile": PercentileOptions,
               "successive_halving": SuccessiveHalvingOptions, "hyperband": HyperbandOptions,
               "patient": PatientOptions, "threshold": ThresholdOptions, "dominated": DominatedOptions},
}


def options_model(kind: Literal["sampler", "pruner"], engine: str, name: str) -> type[Options]:
    """The options model of the ``kind`` named ``name`` on ``engine`` (:class:`Options`, none, if it has none)."""
    table = SAMPLER_OPTIONS if kind == "sampler" else PRUNER_OPTIONS
    return table.get(engine, {}).get(name, Options)


def resolve(kind: Literal["sampler", "pruner"], engine: str, name: str, options: dict[str, Any]) -> Any:
    """``options`` validated into their model (defaults filled); raises pydantic's ValidationError."""
    return options_model(kind, engine, name).model_validate(options)
