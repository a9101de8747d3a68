#!/usr/bin/env python3
"""Runs Kwiat's Quantum-Tomography package on one data file, for
comparison with qtomo (tests/integration/kwiat.rs).

    python reference.py DATA.json CONF.toml [--npy RHO.npy]

Prints one JSON object on standard output: {"rho_re": [[...]], "rho_im":
[[...]], "intensity": I, "fval": f, "version": "1.2.0"}; with --npy also
writes the density matrix as a complex128 NPY file (a `--target` for
qtomo). Needs the package and numpy (e.g. a venv with
`pip install quantum-tomography==1.2 "numpy>=2.1.3,<2.4" scipy`: numpy
2.4 breaks the package's maxlike_fitness).
"""
import contextlib
import io
import json
import sys
import warnings


def main(argv):
    if len(argv) not in (3, 5) or (len(argv) == 5 and argv[3] != "--npy"):
        print(__doc__, file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore")
    import numpy as np
    import QuantumTomography as qt
    from importlib.metadata import version

    t = qt.Tomography()
    # The package prints while it reads two-detector files: keep stdout
    # for the JSON answer.
    with contextlib.redirect_stdout(io.StringIO()):
        t.import_conf(argv[2])
        t.import_data(argv[1])
        rho, intensity, fval = t.run_tomography()
    rho = np.asarray(rho, dtype=complex)
    if len(argv) == 5:
        np.save(argv[4], rho)
    json.dump(
        {
            "rho_re": rho.real.tolist(),
            "rho_im": rho.imag.tolist(),
            "intensity": float(intensity),
            "fval": float(fval),
            "version": version("quantum-tomography"),
        },
        sys.stdout,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
