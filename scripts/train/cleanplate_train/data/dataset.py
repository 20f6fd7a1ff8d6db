"""torch Dataset/DataLoader over the synthetic generator: sample i is a pure function of (seed, stream, i),
so data is deterministic per seed regardless of worker count, and a resumed run continues the sequence.

Worker -> main transfer: torch tensors through shared memory (/dev/shm) when it has room for the batches in
flight, else numpy arrays through the worker pipes (containers often have a 64 MB /dev/shm).
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterator, List

import numpy as np

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .compose import make_sample, sample_rng
from .sources import Sources

STREAM_BASE = 0
STREAM_REFINER = 1


class SynthDataset(Dataset):
    """Item i -> dict of uint8 tensors: shot, plate, fgr [3,S,S] and alpha [1,S,S]."""

    def __init__(self, sources: Sources, data_cfg: Dict[str, Any], size: int, full_res: bool, seed: int,
                 stream: int) -> None:
        self.sources, self.cfg, self.size, self.full_res = sources, data_cfg, size, full_res
        self.seed, self.stream = seed, stream

    def __len__(self) -> int:
        return 2 ** 31 - 1

    def __getitem__(self, i: int) -> Dict[str, np.ndarray]:
        return make_sample(sample_rng(self.seed, self.stream, i), self.sources, self.size, self.size, self.cfg, self.full_res)

    def batch_bytes(self, batch: int) -> int:
        """Bytes of one collated batch (10 uint8 channels per pixel)."""
        return batch * 10 * self.size * self.size


class CountingSampler(Sampler):
    """Yields start, start + 1, ... (endless)."""

    def __init__(self, start: int = 0) -> None:
        self.start = int(start)

    def __iter__(self) -> Iterator[int]:
        i = self.start
        while True:
            yield i
            i += 1

    def __len__(self) -> int:
        return 2 ** 31 - 1


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def collate_tensors(items: List[Dict[str, np.ndarray]]) -> Dict[str, torch.Tensor]:
    """Stacks samples into uint8 tensors (sent through shared memory by DataLoader workers)."""
    return {k: torch.from_numpy(np.stack([it[k] for it in items])) for k in items[0]}


def collate_numpy(items: List[Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
    """Stacks samples into uint8 numpy arrays (pickled through the worker pipe: no shared memory needed)."""
    return {k: np.stack([it[k] for it in items]) for k in items[0]}


def shm_free_bytes(path: str = '/dev/shm') -> int:
    """Free bytes in the shared-memory file system (0 when it cannot be read)."""
    try:
        st = os.statvfs(path)
        return int(st.f_bavail * st.f_frsize)
    except OSError:
        return 0


def choose_transfer(ds: SynthDataset, batch: int, workers: int, prefetch: int, mode: str = 'auto') -> str:
    """'shm' or 'pipe' (see module docstring); 'auto' needs 2x the bytes of all batches in flight free in /dev/shm."""
    if mode in ('shm', 'pipe'):
        return mode
    if workers == 0:
        return 'shm'
    need = 2 * workers * max(2, prefetch) * ds.batch_bytes(batch)
    return 'shm' if shm_free_bytes() >= need else 'pipe'


def make_loader(ds: SynthDataset, batch: int, workers: int, prefetch: int, start_index: int,
                pin_memory: bool, transfer: str = 'shm') -> DataLoader:
    """Endless loader starting at sample `start_index` (= samples already consumed by a resumed stage).
    Batches are dicts of uint8 [B,C,S,S] tensors ('shm') or numpy arrays ('pipe')."""
    kw: Dict[str, Any] = {}
    if workers > 0:
        kw.update(prefetch_factor=max(2, prefetch), worker_init_fn=_worker_init, persistent_workers=False)
    return DataLoader(ds, batch_size=batch, sampler=CountingSampler(start_index), num_workers=workers,
                      collate_fn=collate_numpy if transfer == 'pipe' else collate_tensors,
                      pin_memory=pin_memory and transfer != 'pipe', drop_last=True, **kw)
