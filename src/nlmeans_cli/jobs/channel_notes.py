"""The notes on how a still's channels were denoised: left as they were, copied, or apart."""

from __future__ import annotations

__all__ = ["channel_notes"]


def channel_notes(setting, used: dict) -> list[str]:
    """Return the notes on a setting's channels (counted from 1).

    Parameters
    ----------
    setting : nlmeans_cli.methods.base.Setting
        What the method resolved for the image.
    used : dict
        Its ``setting.used()``, which the caller has read already.

    Returns
    -------
    list of str
        Constant channels left as they were, copies denoised once, and channels that are not
        colours denoised apart (each with its h, patch and window), where they were.
    """
    plan = setting.channel_plan
    notes = [] if plan is None else _plan_notes(plan)
    apart = used.get("apart")
    if apart:
        numbers = range(len(apart)) if plan is None else plan.denoised
        scale = setting.sigma_unit if setting.stabiliser is not None else 1 / 255.0
        unit = " x sigma" if setting.stabiliser is not None else ""
        each = "; ".join(
            f"{number + 1}: h {one['h_unit'] / scale:.2f}{unit}, patch {one['patch_size']}, "
            f"window {one['search_window']}" for number, one in zip(numbers, apart, strict=True))
        notes.append("its channels show little of one another's structure: each was "
                     f"denoised as a grey image, which SURE found better than weights shared "
                     f"by all ({each})")
    return notes


def _plan_notes(plan) -> list[str]:
    notes = []
    if len(plan.constant) == 1:
        notes.append(f"channel {plan.constant[0] + 1} is constant: left as it was")
    elif plan.constant:
        listed = ", ".join(str(channel + 1) for channel in plan.constant)
        notes.append(f"channels {listed} are constant: left as they were")
    alone = "as a grey image" if len(plan.denoised) == 1 else "with the other channels"
    for source in sorted({source for _, source in plan.copies}):
        copies = [str(channel + 1) for channel, origin in plan.copies if origin == source]
        which = (f"channel {copies[0]} is a copy" if len(copies) == 1
                 else f"channels {', '.join(copies)} are copies")
        notes.append(f"{which} of channel {source + 1}: denoised once, {alone}")
    return notes
