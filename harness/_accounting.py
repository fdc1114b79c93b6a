"""Loss of a run by cause: the fault plan's truth, the receiver's accepted packets and the
kernel's drops per port (docs/reliability.md "Accounting")."""

from __future__ import annotations

import numpy as np

__all__ = ["WINDOW_FRAMES"]

#: The receiver's open-frame window of a run (detectors.md §4.2): a port's frame closes once that
#: port sent a frame more than this many frames newer.
WINDOW_FRAMES = 2


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
    the receiver did not accept, per port; the kernel's receive-buffer drops per port; the packets
    the receiver read but counted late beyond those the send order makes late (its frame was
    already closed because the receiver fell behind: the other port ran more than the frame
    window ahead, or the open-frame limit closed it); and the rest, which none of these explains.
    """
    n_ports = placed.shape[1]
    missing = (placed[sent_frames] & ~accepted[sent_frames]).sum(axis=(0, 2))
    unexpected = (accepted[sent_frames] & ~placed[sent_frames]).sum(axis=(0, 2))
    drops_per_port = _per_port((moved.get("receiver") or {}).get("kernel_drops_per_port"), n_ports)
    late_seen = _per_port((moved.get("assembler") or {}).get("packets_late_per_port"), n_ports)
    late_expected = [0] * n_ports
    if experiment is not None:
        truth = experiment.schedule.truth
        of_sent = np.isin(truth.send_frame, sent_frames)
        late = truth.late_sends(WINDOW_FRAMES) & of_sent
        counts = np.bincount(truth.send_port[late], minlength=n_ports)[:n_ports]
        late_expected = [int(n) for n in counts]
    late_behind = [max(0, s - e) for s, e in zip(late_seen, late_expected, strict=True)]
    unexplained = [
        max(0, int(m) - d - b) for m, d, b in zip(missing, drops_per_port, late_behind, strict=True)
    ]
    return {
        "packets_kernel_drops": sum(drops_per_port),
        "packets_kernel_drops_per_port": drops_per_port,
        "packets_late_behind": sum(late_behind),
        "packets_late_behind_per_port": late_behind,
        "packets_missing_per_port": [int(m) for m in missing],
        "packets_unexplained_loss": sum(unexplained),
        "packets_unexplained_per_port": unexplained,
        "packets_placed_unexpected": int(unexpected.sum()),
    }


def _per_port(values, n_ports: int) -> list[int]:
    """A per-port list of counts of length ``n_ports`` (zeros where absent)."""
    out = [int(v) for v in values] if values else []
    return (out + [0] * n_ports)[:n_ports]
