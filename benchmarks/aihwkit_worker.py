"""The IBM aihwkit side of ``bench_aihwkit.py``, run by the Python that has aihwkit (it needs
PyTorch, so it lives in its own environment). Reads a JSON job from argv[1], prints one JSON
line of times. Imports only torch, aihwkit and NumPy.

The model of both sides: aihwkit's ``PCMLikeNoiseModel`` (g_max = 25 µS; analogjax's
``presets.pcm_like`` is that model) with ``GlobalDriftCompensation``, no white output or weight
noise (the PCM model has none), converters ideal or 8-bit. aihwkit's pure-PyTorch inference tile
(``TorchInferenceRPUConfig``): the wheel's C++ tile needs the PyTorch it was built against.
"""

import json
import sys
import time

import numpy as np
import torch
from aihwkit.inference import GlobalDriftCompensation, PCMLikeNoiseModel
from aihwkit.nn import AnalogLinear, AnalogSequential
from aihwkit.simulator.configs import TorchInferenceRPUConfig


def rpu_config(bits):
    config = TorchInferenceRPUConfig()
    config.noise_model = PCMLikeNoiseModel(g_max=25.0)
    config.drift_compensation = GlobalDriftCompensation()
    config.forward.out_noise = 0.0
    config.forward.w_noise = 0.0
    if bits is None:
        config.forward.is_perfect = True
    else:  # signed converters of `bits` bits: 2^bits − 2 steps over the range
        config.forward.inp_res = 1 / (2**bits - 2)
        config.forward.out_res = 1 / (2**bits - 2)
    return config


def linear(w, b, bits):
    layer = AnalogLinear(w.shape[1], w.shape[0], bias=b is not None, rpu_config=rpu_config(bits))
    layer.set_weights(torch.from_numpy(w), None if b is None else torch.from_numpy(b))
    return layer


def mvm(job):
    """Median time of one batch read at t, after programming and drifting once."""
    rng = np.random.default_rng(0)
    n, batch = job["size"], job["batch"]
    w = (rng.standard_normal((n, n)) / np.sqrt(n)).astype(np.float32)
    x = torch.from_numpy(rng.standard_normal((batch, n)).astype(np.float32))
    out = {}
    for label, bits in (("ideal", None), ("8bit", 8)):
        layer = linear(w, None, bits).eval()
        layer.program_analog_weights()
        layer.drift_analog_weights(job["t"])
        times = []
        with torch.no_grad():
            for _ in range(job["repeats"] + 3):
                start = time.perf_counter()
                y = layer(x)
                times.append(time.perf_counter() - start)
        ideal = x @ torch.from_numpy(w).T
        rel = float(torch.linalg.norm(y - ideal) / torch.linalg.norm(ideal))
        out[label] = {"seconds": float(np.median(times[3:])), "relative_error": rel}
    return out


def study(job):
    """Test accuracy of ``chips`` chips at each read time: program, then drift and read."""
    data = np.load(job["data"])
    x, y = torch.from_numpy(data["x_test"]), torch.from_numpy(data["y_test"])
    model = AnalogSequential(linear(data["w0"], data["b0"], 8), torch.nn.ReLU(),
                             linear(data["w1"], data["b1"], 8)).eval()
    start = time.perf_counter()
    accuracy = np.zeros((job["chips"], len(job["times"])))
    with torch.no_grad():
        for chip in range(job["chips"]):
            model.program_analog_weights()
            for i, t in enumerate(job["times"]):
                model.drift_analog_weights(t)
                accuracy[chip, i] = float((model(x).argmax(1) == y).float().mean())
    return {"seconds": time.perf_counter() - start,
            "mean_accuracy": accuracy.mean(0).tolist()}


def main():
    start = time.perf_counter()
    job = json.loads(sys.argv[1])
    torch.set_num_threads(job["threads"])
    torch.manual_seed(0)
    import aihwkit
    result = {"mvm": mvm, "study": study}[job["kind"]](job)
    result.update(aihwkit=aihwkit.__version__, torch=torch.__version__,
                  threads=torch.get_num_threads(), wall_s=time.perf_counter() - start)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
