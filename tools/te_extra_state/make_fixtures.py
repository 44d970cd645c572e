"""Writes tests/data/te_extra_state/: Transformer Engine `_extra_state` payloads in the forms TE
writes them (docs/spec/checkpoints.md §13), made with real PyTorch pickling.

Needs only PyTorch (Debian's python3-torch is enough). Transformer Engine itself is not needed:
its recipe classes are declared below under their real module name with the fields of TE 2.x's
DelayedScaling, so that pickle writes exactly the globals and state TE's checkpoints hold.

    python3 tools/te_extra_state/make_fixtures.py tests/data/te_extra_state
"""
import dataclasses
import enum
import io
import pickle
import sys
import types
import typing

import torch


def install_recipe_module():
    """transformer_engine.common.recipe with DelayedScaling, Format and _FormatHelper."""
    names = ["transformer_engine", "transformer_engine.common", "transformer_engine.common.recipe"]
    for n in names:
        sys.modules[n] = types.ModuleType(n)
    recipe = sys.modules[names[-1]]

    class _FormatHelper(typing.NamedTuple):
        max_fwd: float
        max_bwd: float

    class Format(enum.Enum):
        E4M3 = _FormatHelper(max_fwd=448, max_bwd=448)
        E5M2 = _FormatHelper(max_fwd=57344, max_bwd=57344)
        HYBRID = _FormatHelper(max_fwd=448, max_bwd=57344)

    @dataclasses.dataclass(repr=False)
    class DelayedScaling:
        margin: int = 0
        fp8_format: Format = Format.HYBRID
        amax_history_len: int = 1024
        amax_compute_algo: str = "max"
        scaling_factor_compute_algo: typing.Optional[typing.Callable] = None
        reduce_amax: bool = True
        fp8_dpa: bool = False
        fp8_mha: bool = False

    for cls in (_FormatHelper, Format, DelayedScaling):
        cls.__module__ = recipe.__name__
        cls.__qualname__ = cls.__name__
        setattr(recipe, cls.__name__, cls)
    return recipe


def state_te2(recipe, scale_fwd, history=16):
    """get_extra_state's dict in TE 2.x releases (recipe, no scale_inv)."""
    amax = torch.zeros(history, 3)
    amax[0] = 448.0 / torch.tensor(scale_fwd)
    return {
        "recipe": recipe.DelayedScaling(amax_history_len=history),
        "scale_fwd": torch.tensor(scale_fwd, dtype=torch.float32),
        "amax_history_fwd": amax,
        "scale_bwd": torch.ones(2),
        "amax_history_bwd": torch.zeros(history, 2),
        "extra_fp8_variables": {"num_gemms": 1, "fp8_checkpoint": True, "first_module": False},
    }


def state_te1(scale_fwd, history=16):
    """get_extra_state's dict in TE 1.x (scale_inv, no recipe)."""
    s = torch.tensor(scale_fwd, dtype=torch.float32)
    return {
        "scale_fwd": s,
        "scale_inv_fwd": 1.0 / s,
        "amax_history_fwd": torch.zeros(history, 3),
        "scale_bwd": torch.ones(2),
        "scale_inv_bwd": torch.ones(2),
        "amax_history_bwd": torch.zeros(history, 2),
        "extra_fp8_variables": {"num_gemms": 1, "fp8_checkpoint": True},
    }


def te2_tensor(state):
    """TE >= 2.0: pickle.dumps(state) in a uint8 tensor."""
    return torch.frombuffer(bytearray(pickle.dumps(state)), dtype=torch.uint8)


def te1_bytesio(state):
    """TE 0.10-1.x: torch.save(state) in an io.BytesIO."""
    b = io.BytesIO()
    torch.save(state, b)
    return b


def main(out):
    recipe = install_recipe_module()
    # The scales: exact in fp32, not powers of two, so a wrong index or a 1/x mix-up shows.
    pickled = pickle.dumps(state_te2(recipe, [3.5, 112.25, 1.0]))
    with open(f"{out}/te2_state.pickle", "wb") as f:
        f.write(pickled)
    # A vortex-style state dict holding each form, as torch.save writes a checkpoint.
    torch.save({
        "blocks.0.projections.weight": torch.arange(6, dtype=torch.bfloat16).reshape(3, 2),
        "blocks.0.projections._extra_state": te2_tensor(state_te2(recipe, [3.5, 112.25, 1.0])),
        "blocks.1.projections._extra_state": te1_bytesio(state_te1([0.625, 40.5, 1.0])),
        "blocks.2.projections._extra_state": torch.empty(0, dtype=torch.uint8),
        "blocks.3.projections._extra_state": None,
    }, f"{out}/forms.pt")
    # A torch.distributed.checkpoint byte item as Megatron saves a module's extra state.
    b = io.BytesIO()
    torch.save([te2_tensor(state_te2(recipe, [5.25, 80.0, 1.0]))], b)
    with open(f"{out}/dcp_item.bin", "wb") as f:
        f.write(b.getvalue())


if __name__ == "__main__":
    main(sys.argv[1])
