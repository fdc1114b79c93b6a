"""Loss of a run by cause: the fault plan's truth, the receiver's accepted packets and the
kernel's drops per port (docs/reliability.md "Accounting")."""

from __future__ import annotations

import numpy as np

__all__: list[str] = []


def _accepted_masks(
    experiment, accepted: dict[int, np.ndarray], sent_frames: np.ndarray
) -> np.ndarray:
    """(frames, ports, packets) mask of the packets the receiver placed, by run frame index; a
    frame the receiver never published has none."""
    truth = experiment.schedule.truth
    masks = np.zeros(truth.fate.shape, dtype=bool)
    numbers = experiment.schedule.frame_numbers
    for index in sent_frames.tolist():
        mask = accepted.get(int(numbers[index]))
        if mask is not None and mask.shape == masks.shape[1:]:
            masks[index] = mask
    return masks


def _accounting(
    experiment,
    placed: np.ndarray,
    accepted: np.ndarray,
    sent_frames: np.ndarray,
    moved: dict,
) -> dict:
    """Loss by cause: packets a correct receiver places (``placed``, the fault plan's truth) that
    the receiver did not accept, per port; the kernel's receive-buffer drops per port; and the
    rest, which neither the fault plan nor the kernel explains."""
    n_ports = placed.shape[1]
    missing = (placed[sent_frames] & ~accepted[sent_frames]).sum(axis=(0, 2))
    unexpected = (accepted[sent_frames] & ~placed[sent_frames]).sum(axis=(0, 2))
    drops = (moved.get("receiver") or {}).get("kernel_drops_per_port")
    drops_per_port = [int(d) for d in drops] if drops else [0] * n_ports
    if len(drops_per_port) != n_ports:
        drops_per_port = (drops_per_port + [0] * n_ports)[:n_ports]
    unexplained = [max(0, int(m) - d) for m, d in zip(missing, drops_per_port, strict=True)]
    return {
        "packets_kernel_drops": sum(drops_per_port),
        "packets_kernel_drops_per_port": drops_per_port,
        "packets_missing_per_port": [int(m) for m in missing],
        "packets_unexplained_loss": sum(unexplained),
        "packets_unexplained_per_port": unexplained,
        "packets_placed_unexpected": int(unexpected.sum()),
    }
