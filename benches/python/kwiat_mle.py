"""Per-sample time of the MLE in Kwiat's Quantum-Tomography package, for the
README's comparison with `cargo bench --bench estimators`.

Same problem as the Rust bench: Pauli tomography (3^n settings, 2^n outcomes
each, i.e. two detectors per qubit), a Hilbert-Schmidt random mixed state,
1000 shots per setting, one thread. Times the package's own steps for an
MLE: filter_data, tomography_LINEAR as the start, tomography_MLE.

    pip install Quantum-Tomography==1.2.0 scipy
    python3 benches/python/kwiat_mle.py 2 7     # qubits, repetitions
    python3 benches/python/kwiat_mle.py 3 3

Version 1.2.0's StateTomography_Matrix fails on this layout (it passes the
accidentals as an N x 2^n array while flattening the coincidences), so the
script calls the same steps itself with the accidentals flattened.
"""

import sys
import time

import numpy as np
import QuantumTomography as qt
from QuantumTomography.TomoFunctions import make_positive
from scipy.linalg import sqrtm

qubits = int(sys.argv[1]) if len(sys.argv) > 1 else 2
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
d = 2**qubits

tomo = qt.Tomography()
tomo.conf["NQubits"] = qubits
tomo.conf["NDetectors"] = 2
tomo.conf["Efficiency"] = np.ones(d)
tomo.conf["Crosstalk"] = np.identity(d)
tomo.conf["DoErrorEstimation"] = 0
tomo.conf["DoDriftCorrection"] = 0
data = tomo.getTomoInputTemplate(qubits, 2)
first_count = 2 * qubits + 1

rng = np.random.default_rng(1)
g = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
truth = g @ g.conj().T
truth /= np.trace(truth)


def prepare(rows):
    tomo.last_input = rows
    tomo.intensities = np.ones(rows.shape[0])
    return tomo.filter_data(rows)


# Multinomial counts per setting from the package's own projectors.
_, projectors, _, _, _ = prepare(data)
for j in range(data.shape[0]):
    p = np.array([np.real(np.trace(projectors[j * d + k] @ truth)) for k in range(d)])
    p = np.clip(p, 0.0, None)
    data[j, first_count : first_count + d] = rng.multinomial(1000, p / p.sum())


def mle(rows):
    coinc, dens, pures, acc, norms = prepare(rows)
    start, _ = tomo.tomography_LINEAR(coinc, pures, norms)
    start = make_positive(start.transpose())
    start = start / np.trace(start)
    return tomo.tomography_MLE(start, coinc, dens, np.asarray(acc).flatten(), norms)


times = []
for _ in range(reps):
    t0 = time.perf_counter()
    rho, _, _ = mle(data.copy())
    times.append(time.perf_counter() - t0)

s = sqrtm(truth)
fidelity = np.real(np.trace(sqrtm(s @ rho @ s))) ** 2
print(
    f"{qubits} qubits: median {np.median(times) * 1e3:.1f} ms over {reps} runs "
    f"(min {min(times) * 1e3:.1f} ms); fidelity to the true state {fidelity:.4f}"
)
