"""The search space: a validated space file resolved against the block registry and the data rank.

``SpaceFile`` is what a user writes (``block`` + ``params``); :func:`resolve_space` merges it with each
candidate block's default hyperparameters and the training defaults, checks every condition, and
returns a :class:`Space` that samples itself from any :class:`~automl.space.params.Suggester`.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from automl._text import clip, did_you_mean, one_of, show
from automl.errors import ConfigError
from automl.space.params import MAX_GRID, CategoricalParam, FixedParam, Param, Suggester, as_param_input

BLOCK = "block"
# a key path in an error names a parameter (or a parent) up to this length
_PATH_CHARS = 80


class SpaceFile(BaseModel):
    """A search space as written in ``search_spaces/*.yaml`` (or inline under ``space:``)."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(None, description="Free text shown in reports.")
    block: Param = Field(description="The model block: a name, or a categorical over names; your own model is "
                                     "FILE.py:FUNCTION or package.module:FUNCTION.")
    params: dict[str, Param] = Field(
        default_factory=dict,
        description="Hyperparameters: {type: int|float|categorical, ...} or a fixed value.",
    )

    @field_validator("block", mode="before")
    @classmethod
    def _block(cls, value: Any) -> Any:
        return as_param_input(value)

    @field_validator("params", mode="before")
    @classmethod
    def _params(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict):
            return {k: as_param_input(v) for k, v in value.items()}
        return value


@dataclass
class Space:
    """A resolved space: every parameter with its sampler name, in an order where parents come first.

    ``owners`` maps a sampler name to ``(block or None, name the builder reads)``; block-specific
    defaults of a multi-block space are named ``"<block>.<name>"`` so their ranges never collide.
    """

    params: dict[str, Param]
    owners: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    #: the user's builders a block names (``my_models.py:build``), by the name the space gives them
    builders: dict[str, Any] = field(default_factory=dict)  # automl.builders.user.Builder

    @property
    def blocks(self) -> list[str]:
        spec = self.params[BLOCK]
        return [str(c) for c in spec.grid()]

    def is_active(self, name: str, values: dict[str, Any]) -> bool:
        for parent, allowed in self.params[name].when.items():
            if parent not in values or values[parent] not in allowed:
                return False
        return True

    def sample(self, suggester: Suggester) -> dict[str, Any]:
        """Draw every active parameter in order; inactive ones never reach the suggester."""
        values: dict[str, Any] = {}
        for name, spec in self.params.items():
            if self.is_active(name, values):
                values[name] = spec.draw(name, suggester)
        return values

    def replay(self, params: dict[str, Any]) -> dict[str, Any]:
        """Every active value (fixed ones too) of a trial from the tunable ``params`` an engine stored."""
        values: dict[str, Any] = {}
        for name, spec in self.params.items():
            if self.is_active(name, values):
                values[name] = params[name] if spec.tunable else spec.draw(name, None)  # type: ignore[arg-type]
        return values

    def tunable(self, values: dict[str, Any]) -> dict[str, Any]:
        """The sampled values minus the fixed ones (what an engine records as a trial's params)."""
        return {k: v for k, v in values.items() if self.params[k].tunable}

    def decode(self, values: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Split sampled values into the block name and the hyperparameters its builder reads.

        A user's builder comes back as the reference any process imports (``/abs/my_models.py:build``).
        """
        block = str(values[BLOCK])
        hp: dict[str, Any] = {}
        for name, value in values.items():
            owner, short = self.owners.get(name, (None, name))
            if name != BLOCK and owner in (None, block):
                hp[short] = value
        return (self.builders[block].target if block in self.builders else block), hp

    def builder_records(self) -> list[dict[str, Any]]:
        """Path, function and SHA-256 of every builder the space names (what the study records)."""
        return [b.record() for b in self.builders.values()]

    def builder_digests(self) -> dict[str, str | None]:
        return {ref: b.sha256 for ref, b in self.builders.items()}

    def builder_change(self, stored: Any) -> str:
        """`` (builder x.py:build changed since: sha256 ab12.. -> cd34..)`` when ``stored`` (the digests a study
        recorded) differs from this space's builders; else an empty string."""
        if not isinstance(stored, dict) or stored == self.builder_digests():
            return ""
        for ref, digest in self.builder_digests().items():
            if ref in stored and stored[ref] != digest:
                return (f" (builder {ref} changed since the study started: sha256 {str(stored[ref])[:12]} -> "
                        f"{str(digest)[:12]})")
        return ""

    def can_be_active(self, name: str) -> bool:
        """False for a parameter whose condition no value of its parents can meet (momentum under adam)."""
        return self._can_be_active()[name]

    def _can_be_active(self) -> dict[str, bool]:
        """:meth:`can_be_active` of every parameter, each parent walked once (a web of conditions where each
        parameter has two parents would otherwise cost 2**(depth/2) walks); a cycle never holds."""
        known: dict[str, bool] = {}
        for root in self.params:
            if root in known:
                continue
            stack, visiting = [root], {root}
            while stack:
                name = stack[-1]
                parents = [p for p in self.params[name].when if p in self.params and p not in known]
                todo = [p for p in parents if p not in visiting]
                if todo:
                    stack += todo
                    visiting.update(todo)
                    continue
                known[name] = all(known.get(p, False) and self._may_hold(p, allowed)
                                  for p, allowed in self.params[name].when.items())
                stack.pop()
                visiting.discard(name)
        return known

    def _may_hold(self, parent: str, allowed: list[Any]) -> bool:
        pspec = self.params[parent]
        if isinstance(pspec, CategoricalParam | FixedParam):
            return bool(set(map(repr, pspec.grid())) & set(map(repr, allowed)))
        return True

    def grid(self) -> dict[str, list[Any]]:
        """Every tunable parameter's grid values (grid search); raises ValueError if one has none, or if one or
        all of them together hold more than :data:`~automl.space.params.MAX_GRID` values."""
        sizes: dict[str, int] = {}
        active = self._can_be_active()
        for name, spec in self.params.items():
            if spec.tunable and active[name]:
                size = spec.grid_size()
                if size is None:
                    raise ValueError(f"grid search needs every float to have a `step`; `{name}` has none (give it "
                                     "a step or a fixed value)")
                if size > MAX_GRID:
                    raise ValueError(f"`{name}` has {size} grid values; at most {MAX_GRID} (give it a larger step, "
                                     "fewer choices or a fixed value)")
                sizes[name] = size
        points = math.prod(sizes.values())
        if points > MAX_GRID:
            largest = sorted(sizes.items(), key=lambda item: -item[1])[:3]
            count = str(points) if points < 10**18 else f"about 10^{len(str(points)) - 1}"
            raise ValueError(f"the grid has {count} points (most values: "
                             f"{', '.join(f'{n} {k}' for n, k in largest)}); at most {MAX_GRID} (give parameters "
                             "larger steps, fewer choices or fixed values)")
        return {name: self.params[name].grid() for name in sizes}

    def fingerprint(self) -> str:
        """A hash of the resolved space: a resumed study must see the same one."""
        canon: dict[str, Any] = {k: p.model_dump(mode="json") for k, p in self.params.items()}
        if self.builders:  # a builder file edited since is another space (its SHA-256 is part of it)
            canon = {"params": canon, "builders": self.builder_digests()}
        return hashlib.sha256(json.dumps(canon, sort_keys=True).encode()).hexdigest()[:16]

    def describe(self) -> list[dict[str, Any]]:
        return [{"name": k, **p.model_dump(mode="json")} for k, p in self.params.items()]


def spec_text(spec: dict[str, Any]) -> str:
    """A parameter as a change names it: ``int 16..128``, ``float 1e-4..0.1 log``, ``categorical [sgd, adam]``,
    ``fixed 3``, with its condition (``when optimizer in [sgd]``).

    >>> spec_text({"type": "int", "low": 16, "high": 128, "step": 1, "log": False, "when": {}})
    'int 16..128'
    >>> spec_text({"type": "categorical", "choices": ["sgd", "adam"], "when": {"depth": [2]}})
    'categorical [sgd, adam] when depth in [2]'
    """
    kind = spec.get("type", "?")
    if kind in ("int", "float"):
        text = f"{kind} {spec.get('low')}..{spec.get('high')}"
        step = spec.get("step")
        if step not in (None, 1) or (kind == "float" and step is not None):
            text += f" step {step}"
        if spec.get("log"):
            text += " log"
    elif kind == "categorical":
        text = f"categorical [{', '.join(map(str, spec.get('choices', [])))}]"
    elif kind == "fixed":
        text = f"fixed {spec.get('value')}"
    else:
        text = str(kind)
    for parent, allowed in (spec.get("when") or {}).items():
        text += f" when {parent} in [{', '.join(map(str, allowed))}]"
    return text


def space_changes(stored: Any, space: Space) -> tuple[list[str], list[str]]:
    """What changed from the space a study recorded (``stored``: :meth:`Space.describe` then) to ``space``:
    ``(every change, the ones a study cannot go on through)``, each as ``units: int 16..128 -> int 16..256``,
    ``dropout: added (float 0.0..0.5)`` or ``momentum: removed``.

    A study goes on through changed ranges, steps, log scales, conditions and added or removed parameters (the
    sampler keeps the earlier trials as history; a value outside the new range stays in its trial). It cannot
    go on through another block (the trials would be of other models with other parameters), other choices of
    a categorical parameter or a parameter of another kind (Optuna refuses both for a parameter it has seen:
    "CategoricalDistribution does not support dynamic value space")."""
    if not isinstance(stored, list):
        return [], []
    before = {str(d.get("name")): {k: v for k, v in d.items() if k != "name"} for d in stored if isinstance(d, dict)}
    after = {d["name"]: {k: v for k, v in d.items() if k != "name"} for d in space.describe()}
    changes: list[str] = []
    blocking: list[str] = []
    for name in [*before, *(n for n in after if n not in before)]:
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if old is None:
            line = f"{name}: added ({spec_text(new or {})})"
        elif new is None:
            line = f"{name}: removed (was {spec_text(old)})"
        else:
            line = f"{name}: {spec_text(old)} -> {spec_text(new)}"
        changes.append(line)
        tunable = ("int", "float", "categorical")
        if name == BLOCK or (old is not None and new is not None and old.get("type") in tunable
                             and new.get("type") in tunable and (old.get("type") != new.get("type") or (
                                 old.get("type") == "categorical" and old.get("choices") != new.get("choices")))):
            blocking.append(line)
    return changes, blocking


def resolve_space(
    space: SpaceFile, rank: int | None, *, file: str | None = None, prefix: str = ""
) -> Space:
    """Merge ``space`` with block and training defaults for data of ``rank`` (None: any rank).

    Errors name ``file`` and the key path (``prefix`` + the key inside the space).
    """
    from automl.builders import user
    from automl.builders.blocks import BLOCKS, RANK_NAMES, ParamProblem
    from automl.builders.checks import check_param
    from automl.builders.training import training_hyperparameters

    def err(path: str, message: str) -> ConfigError:
        return ConfigError(message, file=file, path=prefix + clip(path, _PATH_CHARS))  # names may be a MB long

    block_spec = space.block
    if isinstance(block_spec, FixedParam | CategoricalParam) and not block_spec.when:
        names = [block_spec.value] if isinstance(block_spec, FixedParam) else list(block_spec.choices)
    else:
        raise err(BLOCK, "expected a block name or {type: categorical, choices: [...]}, "
                         f"got {show(block_spec.model_dump(exclude_defaults=True))}")
    builders: dict[str, Any] = {}
    base = Path(file).resolve().parent if file else Path.cwd()
    for name in names:
        if user.is_reference(name):  # the user's own model: imported now, so a typo stops before any trial
            builders[str(name)] = user.resolve(str(name), base=base, file=file, path=prefix + BLOCK)
        elif not isinstance(name, str) or name not in BLOCKS:
            raise err(BLOCK, one_of(str(name), BLOCKS.names(), "block") + " or FILE.py:FUNCTION (your own model)")
    all_blocks = {str(n): UserBlock(str(n)) if n in builders else BLOCKS.get(str(n)) for n in names}
    blocks = dict(all_blocks)
    if rank is not None:
        fits = {n: b for n, b in blocks.items() if rank in b.ranks}
        if not fits:
            wants = "; ".join(f"'{n}' needs {' or '.join(RANK_NAMES[r] for r in b.ranks)} data"
                              for n, b in blocks.items())
            raise err(BLOCK, f"{wants}, got {RANK_NAMES.get(rank, f'rank-{rank}')} data")
        blocks = fits  # a multi-block space keeps the blocks that fit this data
    block_names = list(blocks)
    if len(block_names) == 1:
        block_param: Param = FixedParam(value=block_names[0])
    else:
        block_param = CategoricalParam(type="categorical", choices=list(block_names))

    params: dict[str, Param] = {BLOCK: block_param}
    owners: dict[str, tuple[str | None, str]] = {}
    consumers: dict[str, list[str]] = {}
    block_defaults: dict[str, dict[str, Param]] = {n: b.hyperparameters(rank) for n, b in blocks.items()}
    for n, hps in block_defaults.items():
        for hp in hps:
            consumers.setdefault(hp, []).append(n)
    training = training_hyperparameters()
    # hyperparameters of blocks this data drops (or of another rank) are known, just not used here
    elsewhere = {hp for b in all_blocks.values() for hp in b.hyperparameters()}
    # a user's builder reads every param of the space that is not a training hyperparameter
    for n in blocks:
        if n in builders:
            for hp in space.params:
                if hp not in training and hp != BLOCK:
                    consumers.setdefault(hp, []).append(n)
    known = set(consumers) | set(training) | elsewhere

    def sampler_name(bname: str, hp: str) -> str:
        """The name block ``bname``'s hyperparameter ``hp`` is drawn under (as the loop below names it)."""
        if hp in space.params or hp in training or len(block_names) == 1 or len(consumers.get(hp, [])) == 1:
            return hp
        return f"{bname}.{hp}"

    def block_when(bname: str, when: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return {sampler_name(bname, k) if k in block_defaults[bname] else k: v for k, v in when.items()}

    unused: set[str] = set()
    for name, spec in space.params.items():
        if name == BLOCK:
            raise err(f"params.{name}", "the block is chosen by the top-level `block` key, not a param")
        if name not in known:
            raise err(f"params.{name}", f"not a hyperparameter of block(s) {', '.join(block_names)} "
                      f"or of training{did_you_mean(name, known)}")
        users = consumers.get(name, [])
        # a name only the user's builders read means what they make of it
        problem = check_param(name, spec) if name in training or set(users) - set(builders) else None
        if problem:
            raise err(f"params.{name}", problem)
        if name not in training and not users:
            unused.add(name)  # only blocks this data drops use it
            continue
        if not spec.when:  # keep the default's condition (momentum only for sgd/rmsprop, ...)
            inherited = [training[name].when] if name in training else [
                block_when(u, block_defaults[u][name].when) for u in users if name in block_defaults[u]]
            if inherited and inherited[0] and all(w == inherited[0] for w in inherited):
                spec = spec.conditioned(inherited[0])
        if name not in training and len(block_names) > 1 and BLOCK not in spec.when \
                and set(users) != set(block_names):
            spec = spec.conditioned({BLOCK: users})
        params[name] = spec

    for name, spec in training.items():
        params.setdefault(name, spec)
    for bname, hps in block_defaults.items():
        for hp, spec in hps.items():
            if hp in params:
                continue
            if len(consumers[hp]) == 1 or len(block_names) == 1:
                sname = hp
            else:
                sname = f"{bname}.{hp}"
            owners[sname] = (bname, hp)
            if spec.when:
                spec = spec.model_copy(update={"when": block_when(bname, spec.when)})
            params[sname] = spec.conditioned({BLOCK: [bname]}) if len(block_names) > 1 else spec
    while unused:  # what is conditional on an unused parameter is never active either
        unused = {n for n, p in params.items() if set(p.when) & unused}
        for n in unused:
            del params[n]

    for bname, block in blocks.items():  # a block's files (pretrained weights) are read from the space's folder
        names_of = {hp: hp if hp in params else f"{bname}.{hp}" for hp in block_defaults[bname]}
        mine = {hp: params[s] for hp, s in names_of.items() if s in params}
        try:
            settled = block.settle(mine, base) if hasattr(block, "settle") else mine
        except ParamProblem as exc:
            raise err(f"params.{exc.name}", exc.message) from exc
        params.update({names_of[hp]: spec for hp, spec in settled.items()})
    _check_conditions(params, space, [str(n) for n in names], err)
    ordered = _topological(params, err)
    return Space(params=ordered, owners=owners, builders={n: b for n, b in builders.items() if n in blocks})


class UserBlock:
    """A user's builder among the blocks of a space: any data rank, no hyperparameters of its own (it reads
    the space's params)."""

    ranks = (2, 3, 4)

    def __init__(self, name: str) -> None:
        self.name = name

    def hyperparameters(self, rank: int | None = None) -> dict[str, Param]:
        return {}


def _check_conditions(params: dict[str, Param], space: SpaceFile, all_blocks: list[str], err: Any) -> None:
    for name, spec in params.items():
        for parent, allowed in spec.when.items():
            path = f"params.{name}.when.{parent}" if name in space.params else f"params.{name}"
            if parent not in params:
                raise err(path, f"condition on unknown parameter {show(parent)}{did_you_mean(parent, params)}")
            if parent == name:
                raise err(path, "a parameter cannot be conditional on itself")
            pspec = params[parent]
            if name not in space.params or parent not in space.params[name].when:
                continue  # a default (or its condition) that a fixed parent switches off is fine
            if isinstance(pspec, CategoricalParam | FixedParam):
                # blocks dropped for this data rank still count as values a condition may name
                possible = all_blocks if parent == BLOCK else pspec.grid()
                bad = [v for v in allowed if v not in possible]
                if bad:
                    raise err(path, f"condition value(s) {show(bad)} can never hold: {parent} takes {show(possible)}")
            else:
                bad = [v for v in allowed if not pspec.contains(v)]
                if bad:
                    raise err(path, f"condition value(s) {show(bad)} are outside the range of {parent}")


def _topological(params: dict[str, Param], err: Any) -> dict[str, Param]:
    ordered: dict[str, Param] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise err(f"params.{name}.when", "conditions form a cycle")
        visiting.add(name)
        for parent in params[name].when:
            visit(parent)
        visiting.discard(name)
        ordered[name] = params[name]

    for name in params:
        visit(name)
    return ordered
