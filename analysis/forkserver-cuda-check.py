"""Can a cell forked from the preloading fork server use CUDA? Run on a GPU host (after device_setup):

    python3 analysis/forkserver-cuda-check.py

Not run yet (no device time left when it was written); until it passes there, GPU presets keep
spawned cells (``experiments.ablation.cell_process_context``).
"""

import json

from physground.experiments.ablation import cell_process_context, worker_environment


def cuda_in_a_forked_cell() -> dict[str, object]:
    """What a cell process sees of CUDA: it was not initialised before, and a tensor reaches the GPU."""
    import torch

    before = torch.cuda.is_initialized()
    total = float(torch.arange(4.0, device="cuda").sum())
    return {"initialised_before": before, "sum_on_gpu": total, "device": torch.cuda.get_device_name(0)}


if __name__ == "__main__":
    context = cell_process_context("cpu")  # the fork server as CPU presets get it
    with worker_environment(), context.Pool(1) as pool:
        print(json.dumps({"start_method": context.get_start_method(), **pool.apply(cuda_in_a_forked_cell)}))
