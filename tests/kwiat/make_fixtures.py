#!/usr/bin/env python3
"""Writes the Kwiat-format test fixtures of tests/data/kwiat/ (numpy only;
deterministic: fixed seeds). Run from the repository root:

    python3 tests/kwiat/make_fixtures.py

The files are qtomo's own (simulated photon counts), in the data format of
Kwiat's Quantum-Tomography 1.2. Expected numbers in the Rust tests were
computed from these files with that package (see the tests' comments).
"""
import json
import os

import numpy as np

OUT = os.path.join("tests", "data", "kwiat")

STATES = {
    "H": [1, 0],
    "V": [0, 1],
    "D": [1, 1],
    "A": [1, -1],
    "R": [1, "1j"],
    "L": [1, "-1j"],
}


def ket(name):
    v = np.array([complex(x) if isinstance(x, str) else x for x in STATES[name]], dtype=complex)
    return v / np.linalg.norm(v)


PARTNER = {"H": "V", "V": "H", "D": "A", "A": "D", "R": "L", "L": "R"}


def bell_mixed(p=0.9):
    phi = np.array([1, 0, 0, 1], dtype=complex) / np.sqrt(2)
    return p * np.outer(phi, phi.conj()) + (1 - p) * np.eye(4) / 4


def prob(rho, names):
    v = ket(names[0])
    for n in names[1:]:
        v = np.kron(v, ket(n))
    return float(np.real(v.conj() @ rho @ v))


def one_detector(rng):
    """2 qubits, 1 detector each: 36 settings, varying integration times,
    relative intensities, singles for accidentals."""
    rho = bell_mixed(0.85)
    data = []
    for i, a in enumerate("HVDARL"):
        for j, b in enumerate("HVDARL"):
            t = [0.5, 1.0, 2.0][(i + j) % 3]
            r = 1.0 - 0.02 * ((3 * i + j) % 5)
            mean = 400.0 * t * r * prob(rho, [a, b])
            s1 = int(rng.poisson(20000 * t * r))
            s2 = int(rng.poisson(18000 * t * r))
            acc = s1 * s2 * 5e-9 / t
            data.append(
                {
                    "basis": [a, b],
                    "integration_time": t,
                    "relative_intensity": r,
                    "counts": [s1, s2, int(rng.poisson(mean + acc))],
                }
            )
    return {
        "n_qubits": 2,
        "n_detectors_per_qubit": 1,
        "coincidence_window": [5],
        "n_measurements_per_qubit": 6,
        "measurement_states": STATES,
        "data": data,
    }


def detector(q, b):
    return 2 * b + q  # two qubits: qubit 1 has 0 and 2, qubit 2 has 1 and 3


def two_detectors(rng, crosstalk, plain=False):
    """2 qubits, 2 detectors each: 9 settings x 4 outcomes, per-detector
    efficiencies, windows, optional crosstalk; plain: equal times and
    efficiencies (no relative_efficiency, no window), which qtomo fits
    without a measurement model."""
    rho = bell_mixed(0.9)
    eff = np.ones((4, 4))
    per_det = [1.0] * 4 if plain else [1.0, 0.95, 0.9, 0.85]
    for d1 in range(4):
        for d2 in range(4):
            eff[d1, d2] = round(per_det[d1] * per_det[d2], 4)
    window = np.full((4, 4), 4.0)
    data = []
    for i, (a, b) in enumerate([(a, b) for a in "HDR" for b in "HDR"]):
        t = 1.0 if plain else [1.0, 1.5][i % 2]
        for bits in range(4):
            b1, b2 = bits >> 1, bits & 1
            n1 = PARTNER[a] if b1 else a
            n2 = PARTNER[b] if b2 else b
            d = [detector(0, b1), detector(1, b2)]
            mean = 300.0 * t * eff[d[0], d[1]] * prob(rho, [n1, n2])
            s = [int(rng.poisson(15000 * t)), int(rng.poisson(14000 * t))]
            data.append(
                {
                    "basis": [n1, n2],
                    "integration_time": t,
                    "counts": [s[0], s[1], int(rng.poisson(mean))],
                    "detectors_used": d,
                }
            )
    doc = {
        "n_qubits": 2,
        "n_detectors_per_qubit": 2,
        "n_measurements_per_qubit": 6,
        "relative_efficiency": eff.tolist(),
        "coincidence_window": window.tolist(),
        "measurement_states": STATES,
        "data": data,
    }
    if plain:
        del doc["relative_efficiency"]
        del doc["coincidence_window"]
    if crosstalk:
        doc["crosstalk"] = [[[0.95, 0.05], [0.1, 0.9]], [[0.97, 0.03], [0.04, 0.96]]]
    return doc


def plain_batch(rng, n):
    """n one-qubit samples with constant scale (runs without a model)."""
    out = []
    for k in range(n):
        theta = 0.3 + 0.2 * k
        psi = np.array([np.cos(theta / 2), np.sin(theta / 2) * np.exp(0.4j * k)])
        rho = 0.95 * np.outer(psi, psi.conj()) + 0.05 * np.eye(2) / 2
        data = []
        for name in "HVDARL":
            v = ket(name)
            mean = 1000.0 * float(np.real(v.conj() @ rho @ v))
            data.append({"basis": [name], "integration_time": 1, "counts": [int(rng.poisson(mean))]})
        out.append(
            {
                "n_qubits": 1,
                "n_detectors_per_qubit": 1,
                # The package needs a window with one detector per qubit,
                # even without accidental correction.
                "coincidence_window": [0],
                "n_measurements_per_qubit": 6,
                "measurement_states": STATES,
                "data": data,
            }
        )
    return out


def write(name, doc):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def main():
    os.makedirs(os.path.join(OUT, "batch_dir"), exist_ok=True)
    rng = np.random.default_rng(17)
    write("one_det_drift_acc.json", one_detector(rng))
    write("two_det_eff.json", two_detectors(rng, crosstalk=False))
    write("two_det_crosstalk.json", two_detectors(rng, crosstalk=True))
    samples = plain_batch(rng, 3)
    with open(os.path.join(OUT, "plain_batch.jsonl"), "w") as f:
        for s in samples:
            f.write(json.dumps(s) + "\n")
    for k, s in enumerate(samples):
        write(os.path.join("batch_dir", f"t{k:02d}.json"), s)
    write("two_det_plain.json", two_detectors(rng, crosstalk=False, plain=True))
    with open(os.path.join(OUT, "corrections_on.toml"), "w") as f:
        f.write(
            "# Kwiat options: both corrections on, plus options qtomo accepts and does not use\n"
            "do_drift_correction = true\n"
            "do_accidental_correction = true\n"
            "do_error_estimation = 0\n"
            'method = "MLE"\n'
            "get_bell_settings = false\n"
        )
    with open(os.path.join(OUT, "corrections_off.toml"), "w") as f:
        f.write("do_drift_correction = false\ndo_accidental_correction = false\n")


if __name__ == "__main__":
    main()
